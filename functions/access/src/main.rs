//! Container entry point of the access function: ConfirmEmail and RequestAccess over gRPC, the
//! codes' e-mails out to Kafka (to notify).

use std::sync::Arc;

use tickermesh_core::access::{AccessSettings, CodeIssuer, UPKEEP_INTERVAL};
use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::server::event::{kafka_publisher, required_kafka};
use tickermesh_core::server::{run_grpc_function_with, GrpcFunction, Tasks};
use tickermesh_core::signing::SigningKey;

const NAME: &str = "tickermesh-access";

fn config() -> Result<(AccessSettings, SigningKey, KafkaSettings), ConfigError> {
    Ok((
        AccessSettings::from_env()?,
        SigningKey::from_env()?,
        required_kafka("access code e-mails are published to Kafka")?,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run_grpc_function_with(NAME, config, |ctx, (access, key, kafka)| async move {
        let codes = Arc::new(CodeIssuer::new(&access, kafka_publisher(NAME, &kafka)?));
        let mut tasks = Tasks::new();
        let upkeep = codes.clone().upkeep(ctx.store.clone(), UPKEEP_INTERVAL);
        tasks.spawn_until_stopped("the access code upkeep", upkeep);
        Ok(GrpcFunction {
            app: tickermesh_access::router(ctx, codes, key).await,
            tasks,
        })
    })
    .await
}
