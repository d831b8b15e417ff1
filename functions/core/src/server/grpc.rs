use std::convert::Infallible;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use tonic::body::Body;
use tonic::codegen::http::Request;
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::config::ConfigError;
use crate::idempotency::{Idempotency, PURGE_INTERVAL};
use crate::Context;

/// A function's gRPC services plus what every gRPC function serves: health (each added
/// service SERVING, under the name its generated code gives it), server reflection (v1 and
/// v1alpha, for grpcurl and friends) and `/metrics`.
#[derive(Default)]
pub struct GrpcApp {
    routes: Routes,
    served: Vec<&'static str>,
}

impl GrpcApp {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.served.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    pub async fn router(self) -> Router {
        let (reporter, health) = tonic_health::server::health_reporter();
        for name in &self.served {
            reporter
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        let mut routes = self.routes.add_service(health);
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
}

/// What a gRPC function serves: its router and the background work it owns (besides the
/// idempotency purge every gRPC function runs).
pub struct GrpcFunction {
    pub app: Router,
    pub tasks: super::Tasks,
}

/// The whole life of a gRPC function container: logging, config from the environment (the
/// shared [`crate::config::FunctionConfig`] and the function's own, exit 2 naming the variable when
/// invalid), database, the idempotency purge, serve on `PORT` until SIGTERM.
pub async fn run_grpc_function<C, F, Fut>(
    name: &'static str,
    own_config: impl FnOnce() -> Result<C, ConfigError>,
    build: F,
) -> ExitCode
where
    F: FnOnce(Arc<Context>, C) -> Fut,
    Fut: Future<Output = Router>,
{
    run_grpc_function_with(name, own_config, |ctx, own| async move {
        Ok(GrpcFunction {
            app: build(ctx, own).await,
            tasks: super::Tasks::new(),
        })
    })
    .await
}

/// [`run_grpc_function`] for a function with background tasks, or a start that can fail (exit
/// code of its choice, e.g. [`super::startup_failed`]).
pub async fn run_grpc_function_with<C, F, Fut>(
    name: &'static str,
    own_config: impl FnOnce() -> Result<C, ConfigError>,
    build: F,
) -> ExitCode
where
    F: FnOnce(Arc<Context>, C) -> Fut,
    Fut: Future<Output = Result<GrpcFunction, ExitCode>>,
{
    crate::telemetry::init();
    let (config, own) = match super::load_config(name, own_config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let service = &config.service;
    let ctx = match Context::connect(service).await {
        Ok(ctx) => ctx,
        Err(e) => return super::startup_failed(name, "cannot open the database", &e),
    };
    let GrpcFunction { app, mut tasks } = match build(ctx.clone(), own).await {
        Ok(f) => f,
        Err(code) => return code,
    };
    let purge = Idempotency::purge_every(ctx.store.clone(), PURGE_INTERVAL);
    tasks.spawn_until_stopped("the idempotency purge", purge);
    let code = super::serve_until_signal(name, config.port, app, service, tasks).await;
    ctx.store.close().await;
    code
}

/// [`run_grpc_function`] for a function with no settings of its own (the commands).
pub async fn run_command_function<Fut>(
    name: &'static str,
    router: impl FnOnce(Arc<Context>) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Router>,
{
    run_grpc_function(name, || Ok(()), |ctx, ()| router(ctx)).await
}
