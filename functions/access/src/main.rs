//! Container entry point of the access function: ConfirmEmail and RequestAccess over gRPC, the
//! codes' e-mails out to Kafka (to notify), and a confirmed user's first prices asked of collect
//! (Kafka).

use std::sync::Arc;

use tickermesh_access::Confirm;
use tickermesh_core::access::{AccessSettings, CodeIssuer, UPKEEP_INTERVAL};
use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::events::collect_request::{collect_requests_topic, CollectRequests};
use tickermesh_core::server::event::{kafka_publisher, required_kafka};
use tickermesh_core::server::{run_grpc_function_with, GrpcFunction, Tasks};
use tickermesh_core::signing::SigningKey;

const NAME: &str = "tickermesh-access";

type Settings = (AccessSettings, SigningKey, KafkaSettings, String);

fn config() -> Result<Settings, ConfigError> {
    Ok((
        AccessSettings::from_env()?,
        SigningKey::from_env()?,
        required_kafka("access code e-mails are published to Kafka")?,
        collect_requests_topic()?,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run_grpc_function_with(
        NAME,
        config,
        |ctx, (access, key, kafka, topic)| async move {
            let publisher = kafka_publisher(NAME, &kafka)?;
            let first_prices = Arc::new(CollectRequests::new(publisher.clone(), &topic));
            let codes = Arc::new(CodeIssuer::new(&access, publisher));
            let confirm = Confirm::new(codes.clone(), key).with_first_prices(first_prices);
            let mut tasks = Tasks::new();
            let upkeep = codes.clone().upkeep(ctx.store.clone(), UPKEEP_INTERVAL);
            tasks.spawn_until_stopped("the access code upkeep", upkeep);
            Ok(GrpcFunction {
                app: tickermesh_access::router_with(ctx, codes, confirm).await,
                tasks,
            })
        },
    )
    .await
}
