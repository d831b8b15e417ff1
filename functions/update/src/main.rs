//! Container entry point of the update function: UpdateUser over gRPC, and the first price of
//! a ticker a watch moved to asked of collect (Kafka).

use std::sync::Arc;

use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::events::collect_request::{collect_requests_topic, CollectRequests};
use tickermesh_core::server::event::{kafka_publisher, required_kafka};
use tickermesh_core::server::{run_grpc_function_with, GrpcFunction, Tasks};

const NAME: &str = "tickermesh-update";

fn config() -> Result<(KafkaSettings, String), ConfigError> {
    Ok((
        required_kafka("first prices of tickers a watch moves to are requested over Kafka")?,
        collect_requests_topic()?,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run_grpc_function_with(NAME, config, |ctx, (kafka, topic)| async move {
        let publisher = kafka_publisher(NAME, &kafka)?;
        let first_prices = Arc::new(CollectRequests::new(publisher, &topic));
        Ok(GrpcFunction {
            app: tickermesh_update::router(ctx, Some(first_prices)).await,
            tasks: Tasks::new(),
        })
    })
    .await
}
