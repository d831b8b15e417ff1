//! Container entry point of the watch function: AddWatch and RemoveWatch over gRPC, and a new
//! ticker's first price asked of collect (Kafka).

use std::sync::Arc;

use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::events::collect_request::{collect_requests_topic, CollectRequests};
use tickermesh_core::server::event::{kafka_publisher, required_kafka};
use tickermesh_core::server::{run_grpc_function_with, GrpcFunction, Tasks};
use tickermesh_watch::WatchConfig;

const NAME: &str = "tickermesh-watch";

fn config() -> Result<(WatchConfig, KafkaSettings, String), ConfigError> {
    Ok((
        WatchConfig::from_env()?,
        required_kafka("first prices of new tickers are requested over Kafka")?,
        collect_requests_topic()?,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run_grpc_function_with(NAME, config, |ctx, (watch, kafka, topic)| async move {
        let publisher = kafka_publisher(NAME, &kafka)?;
        let first_prices = Arc::new(CollectRequests::new(publisher, &topic));
        Ok(GrpcFunction {
            app: tickermesh_watch::router(ctx, watch, first_prices).await,
            tasks: Tasks::new(),
        })
    })
    .await
}
