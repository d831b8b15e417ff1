use std::process::ExitCode;
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
pub async fn run_grpc_function<F, Fut>(name: &'static str, build: F) -> ExitCode
where
    F: FnOnce(Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Router>,
{
    crate::telemetry::init();
    let config = match super::configured(name, FunctionConfig::from_env()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ctx = match Context::connect(&config).await {
        Ok(ctx) => ctx,
        Err(e) => return super::startup_failed(name, "cannot open the database", &e),
    };
    let app = build(ctx.clone()).await;
    let code =
        super::serve_until_signal(name, config.port, app, config.shutdown_grace, || {}).await;
    ctx.store.close().await;
    code
}
