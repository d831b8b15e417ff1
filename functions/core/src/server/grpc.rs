use std::sync::Arc;

use axum::Router;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::config::FunctionConfig;
use crate::Context;

/// The function's services plus gRPC health (every name in `served` SERVING), server
/// reflection (v1 and v1alpha, for grpcurl and friends) and `/metrics`.
pub async fn grpc_app(services: Routes, served: &[&str]) -> Router {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in served {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let mut routes = services.add_service(health);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tickermesh_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    match reflection().build_v1() {
        Ok(svc) => routes = routes.add_service(svc),
        Err(e) => tracing::warn!(error = %e, "reflection v1 unavailable"),
    }
    match reflection().build_v1alpha() {
        Ok(svc) => routes = routes.add_service(svc),
        Err(e) => tracing::warn!(error = %e, "reflection v1alpha unavailable"),
    }
    routes.into_axum_router().merge(super::metrics_router())
}

/// The whole life of a gRPC function container: logging, config from the environment (exit 2
/// naming the variable when invalid), database, serve on `PORT` until SIGTERM.
pub async fn run_grpc_function<F, Fut>(name: &'static str, build: F) -> std::process::ExitCode
where
    F: FnOnce(Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Router>,
{
    crate::telemetry::init();
    let config = match FunctionConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let ctx = match Context::connect(&config).await {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "cannot open the database");
            return std::process::ExitCode::from(1);
        }
    };
    let listener = match super::bind(config.port).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, port = config.port, "cannot listen");
            return std::process::ExitCode::from(1);
        }
    };
    let app = build(ctx.clone()).await;
    tracing::info!(
        function = name,
        port = config.port,
        "serving gRPC and /metrics"
    );
    let result = super::serve(
        listener,
        app,
        super::shutdown_signal(),
        config.shutdown_grace,
    )
    .await;
    ctx.store.close().await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            std::process::ExitCode::from(1)
        }
    }
}
