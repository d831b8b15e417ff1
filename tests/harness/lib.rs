//! Test harness: throwaway databases (SQLite files, MariaDB databases), the real servers bound
//! on port 0, and real gRPC clients talking to them over loopback.
//!
//! MariaDB comes from `TICKERMESH_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`). A test
//! that needs it fails, loudly, when it cannot be reached: it never skips.

pub mod access;
pub mod containers;
pub mod db;
pub mod group;
pub mod kafka;
pub mod manifests;
pub mod notify;
pub mod proc;
pub mod prometheus;
pub mod proxy;
pub mod smtp;
pub mod up;
pub mod yahoo;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_core::server::Router;
use tickermesh_core::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Request;

pub use db::{Backend, TestDb};

/// A server running in this process on a loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tickermesh_core::server::serve(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(2),
        ));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect to the test server")
    }

    pub async fn commands(&self) -> UserCommandsClient<Channel> {
        UserCommandsClient::new(self.channel().await)
    }

    pub async fn queries(&self) -> TickerQueriesClient<Channel> {
        TickerQueriesClient::new(self.channel().await)
    }

    /// Stops accepting, lets open calls finish, and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The local mesh (every gRPC function) over `db`.
pub async fn spawn_mesh(db: &TestDb) -> (TestServer, Arc<Context>) {
    init_logs();
    let ctx = db.context().await;
    let query = tickermesh_query::QueryConfig::default();
    let codes = access::issuer(Arc::new(access::Discard));
    let app = tickermesh::router(ctx.clone(), &query, codes, access::test_key()).await;
    let server = TestServer::start(app).await;
    (server, ctx)
}

/// The local mesh over `db` with these query settings and this code issuer.
pub async fn spawn_mesh_with(
    db: &TestDb,
    query: &tickermesh_query::QueryConfig,
    codes: Arc<tickermesh_core::access::CodeIssuer>,
) -> (TestServer, Arc<Context>) {
    init_logs();
    let ctx = db.context().await;
    let app = tickermesh::router(ctx.clone(), query, codes, access::test_key()).await;
    let server = TestServer::start(app).await;
    (server, ctx)
}

/// Server logs go to the test's captured output (shown when it fails); `TICKERMESH_LOG` filters.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TICKERMESH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A request carrying an idempotency key.
pub fn keyed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().expect("ascii key"));
    request
}

/// A plain HTTP/1.1 GET (as Prometheus scrapes); asserts 200 and returns the whole response.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// A fresh random idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs the same test body against SQLite and MariaDB, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                super::$body($crate::Backend::MariaDb).await
            }
        }
    };
}

/// Polls `check` until it returns `Some`, for at most `within`; panics with `what` otherwise.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A tick as Knative's PingSource sends it: `POST` in binary mode, no body.
pub async fn ping(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-type", "dev.knative.sources.ping")
        .header(
            "ce-source",
            "/apis/v1/namespaces/default/pingsources/tickermesh-tick",
        )
        .header("ce-id", uuid::Uuid::new_v4().to_string())
        .header("ce-time", "2026-11-26T12:00:00Z")
        .send()
        .await
        .expect("POST the tick")
}
