//! Container entry point of the register function: commands over gRPC, the confirmation codes'
//! e-mails out to Kafka (to notify).

use std::sync::Arc;

use tickermesh_core::access::{AccessSettings, CodeIssuer, UPKEEP_INTERVAL};
use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::server::event::{kafka_publisher, required_kafka};
use tickermesh_core::server::{run_grpc_function_with, GrpcFunction, Tasks};

const NAME: &str = "tickermesh-register";

fn config() -> Result<(AccessSettings, KafkaSettings), ConfigError> {
    Ok((
        AccessSettings::from_env()?,
        required_kafka("confirmation e-mails are published to Kafka")?,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run_grpc_function_with(NAME, config, |ctx, (access, kafka)| async move {
        let codes = Arc::new(CodeIssuer::new(&access, kafka_publisher(NAME, &kafka)?));
        let mut tasks = Tasks::new();
        let upkeep = codes.clone().upkeep(ctx.store.clone(), UPKEEP_INTERVAL);
        tasks.spawn_until_stopped("the access code upkeep", upkeep);
        Ok(GrpcFunction {
            app: tickermesh_register::router(ctx, codes).await,
            tasks,
        })
    })
    .await
}
