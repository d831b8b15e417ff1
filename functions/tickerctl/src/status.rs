//! `tickerctl status`: each function's health, the last collect, the breaker, and what the
//! pipeline has alerted and mailed — from gRPC health and from metrics (the local mesh's
//! `/metrics`, or the cluster's Prometheus).

mod report;
pub mod samples;

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub use report::{Health, Report, FUNCTIONS};

use crate::client::{channel, ClientError};

/// The gRPC router in the cluster sends a health check to the function this header names;
/// the local mesh answers for every function and ignores it.
pub const FUNCTION_HEADER: &str = "tickermesh-function";

/// Where the metrics come from.
pub enum MetricsSource {
    /// A `/metrics` URL (the local mesh serves every function's metrics on one).
    Scrape(String),
    /// A Prometheus server scraping the functions, and the job they are scraped as.
    Prometheus { url: String, job: String },
}

/// Gathers the report; the caller prints it.
pub async fn status(
    endpoint: &str,
    source: &MetricsSource,
    timeout: Duration,
) -> Result<Report, ClientError> {
    let channel = channel(endpoint, timeout)?;
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ClientError::Usage(format!("HTTP client: {e}")))?;
    let (samples, source_name) = match source {
        MetricsSource::Scrape(url) => (samples::from_metrics(&http, url).await, url.clone()),
        MetricsSource::Prometheus { url, job } => (
            samples::from_prometheus(&http, url, job).await,
            format!("Prometheus at {url} (job {job})"),
        ),
    };
    let mut grpc = Vec::new();
    for (name, service) in FUNCTIONS {
        if let Some(service) = service {
            grpc.push((*name, grpc_health(&channel, name, service, timeout).await));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let through_prometheus = matches!(source, MetricsSource::Prometheus { .. });
    Ok(Report::build(
        endpoint,
        source_name,
        grpc,
        samples,
        through_prometheus,
        now,
    ))
}

/// One gRPC health check, routed to `function`.
async fn grpc_health(
    channel: &Channel,
    function: &str,
    service: &str,
    timeout: Duration,
) -> (Health, String) {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(timeout);
    if let Ok(value) = MetadataValue::try_from(function) {
        request.metadata_mut().insert(FUNCTION_HEADER, value);
    }
    match HealthClient::new(channel.clone()).check(request).await {
        Ok(r) => match r.into_inner().status() {
            ServingStatus::Serving => (Health::Serving, format!("gRPC health of {service}")),
            other => (
                Health::Down,
                format!("gRPC health of {service}: {}", other.as_str_name()),
            ),
        },
        Err(status) => (
            Health::Unreachable,
            format!(
                "gRPC health of {service}: {}: {}",
                crate::client::code_name(status.code()),
                status.message()
            ),
        ),
    }
}
