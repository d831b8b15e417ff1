//! Serving a function: gRPC (h2c) and plain HTTP (`/metrics`) on one port, since a Knative
//! Service exposes exactly one container port; health and reflection next to the function's
//! own services; graceful shutdown with a bounded grace period.

mod accept;
mod body_limit;
mod connection;
#[cfg(feature = "kafka")]
pub mod event;
mod grpc;
pub mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::{ConfigError, HttpLimits, ServiceConfig};

pub use axum::Router;
pub use grpc::{
    run_command_function, run_grpc_function, run_grpc_function_with, GrpcApp, GrpcFunction,
};
pub use tasks::{serve_with_tasks, Tasks};

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
}

/// How a server stops and what it bears from clients: the shutdown grace period and the
/// [`HttpLimits`]. A bare `Duration` is the grace with the default limits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub grace: Duration,
    pub limits: HttpLimits,
}

impl From<Duration> for ServeOptions {
    fn from(grace: Duration) -> Self {
        Self {
            grace,
            limits: HttpLimits::default(),
        }
    }
}

impl From<&ServiceConfig> for ServeOptions {
    fn from(config: &ServiceConfig) -> Self {
        Self {
            grace: config.shutdown_grace,
            limits: config.http.clone(),
        }
    }
}

/// Serves `app` until `shutdown` resolves, then stops accepting and lets open requests finish
/// for at most the grace period; connections still open then are dropped. Every request body
/// is cut at the body limit (413), and every connection is held to the limits (see
/// [`HttpLimits`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: impl Into<ServeOptions>,
) -> std::io::Result<()> {
    let ServeOptions { grace, limits } = options.into();
    body_limit::init();
    let builder = Arc::new(connection::builder(&limits));
    let mut acceptor = accept::Acceptor::new(listener, limits.max_connections);
    let limits = Arc::new(limits);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (tcp, slot) = acceptor.next() => {
                connections.spawn(connection::serve(
                    tcp,
                    slot,
                    app.clone(),
                    builder.clone(),
                    limits.clone(),
                    stopping.clone(),
                ));
            }
            // Reaps finished connections so the set holds only open ones.
            Some(_) = connections.join_next() => {}
        }
    }
    // New connections are refused from here on.
    drop(acceptor);
    tracing::info!("shutting down; finishing open requests");
    let _ = stopping_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(
            ?grace,
            "grace period over with requests still open; stopping"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Logs `error` and gives the exit code of a start-up failure (1).
pub fn startup_failed(name: &str, what: &str, error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(function = name, %error, "{what}");
    eprintln!("{name}: {what}: {error}");
    ExitCode::from(1)
}

/// A function's configuration: the [`FunctionConfig`] every function reads and its own; or
/// exit code 2 with a message naming the variable.
pub fn load_config<C>(
    name: &str,
    own_config: impl FnOnce() -> Result<C, ConfigError>,
) -> Result<(crate::config::FunctionConfig, C), ExitCode> {
    let config = crate::config::FunctionConfig::from_env().and_then(|f| Ok((f, own_config()?)));
    config.map_err(|e| {
        eprintln!("{name}: {e}");
        ExitCode::from(2)
    })
}

/// Serves `app` on `port` with its background `tasks` until SIGTERM or Ctrl-C (then open
/// requests get the grace period) or until a task ends; the exit code says how it ended.
pub async fn serve_until_signal(
    name: &str,
    port: u16,
    app: Router,
    options: impl Into<ServeOptions>,
    tasks: Tasks,
) -> ExitCode {
    let listener = match bind(port).await {
        Ok(l) => l,
        Err(e) => return startup_failed(name, "cannot listen", &e),
    };
    tracing::info!(function = name, port, "serving");
    match serve_with_tasks(listener, app, shutdown_signal(), options, tasks).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => startup_failed(name, "stopped", &e),
    }
}

/// `/metrics` in the Prometheus text format.
pub fn metrics_router() -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                crate::metrics::render(),
            )
        }),
    )
}
