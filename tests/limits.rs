//! What the server bears from a client, over the wire on a real server bound to port 0: bodies
//! above the limit (declared or chunked) get 413 and the server goes on; slow, silent and idle
//! connections are closed after their timeout; past the connection cap new connections are
//! closed while the open ones keep working; gRPC works next to all of it. Timeouts are
//! shortened through the same `HttpLimits` the binaries read from `TICKERMESH_HTTP_*`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudevents::Event;
use tickermesh::up::{self, UpConfig};
use tickermesh_api::v1::RegisterUserRequest;
use tickermesh_collect::{CollectConfig, MarketKind};
use tickermesh_core::config::{DatabaseConfig, HttpLimits, ServiceConfig};
use tickermesh_core::events::{event_router, EventHandler, HandleError};
use tickermesh_core::server::{serve, GrpcApp, Router, ServeOptions};
use tickermesh_notify::MailSettings;
use tickermesh_query::QueryConfig;
use tickermesh_tests::{Backend, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

const BODY_LIMIT: usize = 64 * 1024;
const HEADER_TIMEOUT: Duration = Duration::from_millis(400);
const IDLE_TIMEOUT: Duration = Duration::from_millis(800);
/// Longest wait for anything the server should do at once.
const PROMPTLY: Duration = Duration::from_secs(5);

fn limits() -> HttpLimits {
    HttpLimits {
        body_limit: BODY_LIMIT,
        header_timeout: HEADER_TIMEOUT,
        idle_timeout: IDLE_TIMEOUT,
        max_connections: 64,
        max_streams: 7,
        keepalive: Duration::from_secs(1),
    }
}

/// `app` served on a loopback port until dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(app: Router, limits: HttpLimits) -> Server {
    tickermesh_tests::init_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = ServeOptions {
        grace: Duration::from_secs(1),
        limits,
    };
    tokio::spawn(serve(listener, app, async { drop(stopped.await) }, options));
    Server { addr, _stop: stop }
}

/// Health, reflection and `/metrics`: what every gRPC function serves.
async fn grpc_app() -> Router {
    GrpcApp::new().router().await
}

async fn grpc_serving(addr: SocketAddr) {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(PROMPTLY)
        .timeout(PROMPTLY)
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
}

/// The status of the next response on `s` (its body, if it has a length, read too); `None`
/// when the server closes the connection without one.
async fn status(s: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + length {
                return head.get(9..12).map(|code| code.parse().unwrap());
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => panic!("no answer and no close within {PROMPTLY:?}"),
            Ok(Ok(0) | Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn get(s: &mut TcpStream, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    status(s).await
}

/// How long after `since` the server closed `s`; panics if it answers or stays open.
async fn closed_after(s: &mut TcpStream, since: Instant) -> Duration {
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(PROMPTLY, s.read(&mut chunk)).await {
            Err(_) => panic!("still open after {:?}", since.elapsed()),
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// An event handler that takes every event.
#[derive(Default)]
struct Counting(AtomicUsize);

#[async_trait::async_trait]
impl EventHandler for Counting {
    fn name(&self) -> &'static str {
        "limits-test"
    }

    async fn handle(&self, _event: &Event) -> Result<(), HandleError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn event_head(path: &str, framing: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nce-specversion: 1.0\r\nce-id: 1\r\n\
         ce-type: dev.knative.sources.ping\r\nce-source: /limits\r\n\
         content-type: application/json\r\n{framing}\r\n\r\n"
    )
}

/// The local mesh (every gRPC function, `POST /collect`) on the simulated market.
async fn mesh(db: &TestDb, dir: &std::path::Path) -> up::Mesh {
    let config = UpConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        service: ServiceConfig {
            idempotency_ttl: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(1),
            http: limits(),
            ..ServiceConfig::new(DatabaseConfig::url(&db.url))
        },
        query: QueryConfig::default(),
        collect: CollectConfig {
            market: MarketKind::Sim,
            ..CollectConfig::from_env().unwrap()
        },
        collect_interval: Duration::from_secs(3600),
        alerts_topic: "threshold-alerts".into(),
        mail: MailSettings::from_env(Some(dir.join("outbox"))).unwrap(),
        kafka: None,
        access: tickermesh_tests::access::test_settings(),
        signing: Some(tickermesh_tests::access::test_key()),
        // Anything else as `tickermesh up` reads it (an empty test environment: its defaults).
        ..UpConfig::from_env("127.0.0.1:0".parse().unwrap(), dir.to_owned()).unwrap()
    };
    up::build(&config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_cloudevents_get_413_and_the_server_still_answers() {
    let handler = Arc::new(Counting::default());
    let events = start(event_router(handler.clone()), limits()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh(&db, dir.path()).await;
    let up = start(mesh.router.clone(), limits()).await;

    for (addr, path) in [(events.addr, "/"), (up.addr, "/collect")] {
        // Declared too large: refused before the body is read (the rest is never sent).
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = event_head(path, "Content-Length: 500000000");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&[b'x'; 4096]).await.unwrap();
        assert_eq!(status(&mut s).await, Some(413), "{path}, Content-Length");

        // Chunked, no length: cut at the limit.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = event_head(path, "Transfer-Encoding: chunked");
        s.write_all(head.as_bytes()).await.unwrap();
        let chunk = [
            format!("{:x}\r\n", 16 * 1024).as_bytes(),
            &[b'x'; 16 * 1024],
            b"\r\n",
        ]
        .concat();
        for _ in 0..(BODY_LIMIT / (16 * 1024) + 2) {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
        }
        assert_eq!(status(&mut s).await, Some(413), "{path}, chunked");
    }

    // Still answering: an event within the limit, chunked or not, is handled.
    for framing in ["Content-Length: 2", "Transfer-Encoding: chunked"] {
        let mut s = TcpStream::connect(events.addr).await.unwrap();
        let body = if framing.starts_with("Content") {
            "{}"
        } else {
            "2\r\n{}\r\n0\r\n\r\n"
        };
        s.write_all((event_head("/", framing) + body).as_bytes())
            .await
            .unwrap();
        assert_eq!(status(&mut s).await, Some(202), "{framing}");
    }
    assert_eq!(handler.0.load(Ordering::SeqCst), 2);
    let metrics = tickermesh_tests::http_get(events.addr, "/metrics").await;
    assert!(
        metrics.contains("tickermesh_http_bodies_too_large_total"),
        "{metrics}"
    );

    // gRPC on the same port, after the floods.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", up.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let registered = tickermesh_api::v1::user_commands_client::UserCommandsClient::new(channel)
        .register_user(RegisterUserRequest {
            email: "ada@example.com".into(),
            ticker: "AAPL".into(),
            min_price: None,
            max_price: Some(250.0),
            ..Default::default()
        })
        .await;
    assert!(registered.is_ok(), "{registered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_silent_and_idle_connections_are_closed_after_their_timeout() {
    let server = start(grpc_app().await, limits()).await;
    let addr = server.addr;
    let started = Instant::now();

    // Silent: connects and sends nothing.
    let silent = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        closed_after(&mut s, started).await
    });
    // Slowloris: a header line every 100 ms, the head never finished.
    let slowloris = tokio::spawn(async move {
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut read, mut write) = s.into_split();
        let trickle = tokio::spawn(async move {
            write.write_all(b"GET /metrics HTTP/1.1\r\n").await.ok();
            for i in 0.. {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let line = format!("x-slow-{i}: 1\r\n");
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let mut chunk = [0u8; 1024];
        let closed = loop {
            match tokio::time::timeout(PROMPTLY, read.read(&mut chunk)).await {
                Err(_) => panic!("slowloris still open"),
                Ok(Ok(0) | Err(_)) => break started.elapsed(),
                Ok(Ok(_)) => {}
            }
        };
        trickle.abort();
        closed
    });
    // A stalled HTTP/2 preface.
    let preface = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        closed_after(&mut s, started).await
    });
    // HTTP/1.1 keep-alive, idle after one request.
    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    assert_eq!(get(&mut keep_alive, "/metrics").await, Some(200));
    let answered = Instant::now();

    // gRPC works meanwhile.
    grpc_serving(addr).await;

    let closed = closed_after(&mut keep_alive, answered).await;
    assert!(
        closed >= HEADER_TIMEOUT / 2,
        "keep-alive closed after {closed:?}"
    );
    for (what, task) in [
        ("silent", silent),
        ("slowloris", slowloris),
        ("preface", preface),
    ] {
        let closed = task.await.unwrap();
        assert!(
            closed >= HEADER_TIMEOUT * 3 / 4 && closed < HEADER_TIMEOUT * 2 + IDLE_TIMEOUT * 2,
            "{what} closed after {closed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_peers_get_the_stream_limit_and_idle_ones_are_closed() {
    let server = start(grpc_app().await, limits()).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::pin!(conn);
    let request = async {
        let request = axum::http::Request::get(format!("http://{}/metrics", server.addr))
            .body(())
            .unwrap();
        let (response, _) = send.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        let status = response.status();
        let mut body = response.into_body();
        while let Some(data) = body.data().await {
            let data = data.unwrap();
            let _ = body.flow_control().release_capacity(data.len());
        }
        status
    };
    let status = tokio::select! {
        status = request => status,
        ended = &mut conn => panic!("connection ended first: {ended:?}"),
    };
    assert_eq!(status, 200);
    assert_eq!(conn.max_concurrent_send_streams(), 7);

    // The peer answers pings (the connection is polled) but sends no request: closed.
    let idle = Instant::now();
    let ended = tokio::time::timeout(PROMPTLY, &mut conn).await;
    assert!(ended.is_ok(), "idle HTTP/2 connection still open");
    assert!(
        idle.elapsed() >= IDLE_TIMEOUT * 3 / 4,
        "{:?}",
        idle.elapsed()
    );
    drop(send);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_are_closed_and_the_server_recovers() {
    const CAP: usize = 8;
    let limits = HttpLimits {
        max_connections: CAP,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        ..limits()
    };
    let server = start(grpc_app().await, limits).await;
    let mut open = Vec::new();
    for _ in 0..CAP {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(get(&mut s, "/metrics").await, Some(200));
        open.push(s);
    }
    // One more: closed without an answer.
    for _ in 0..3 {
        let mut extra = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(
            get(&mut extra, "/metrics").await,
            None,
            "served past the cap"
        );
    }
    // The open ones keep working.
    for s in &mut open {
        assert_eq!(get(s, "/metrics").await, Some(200));
    }
    // Closing some frees their places: new connections, gRPC among them, are served.
    open.truncate(CAP - 2);
    tickermesh_tests::eventually(PROMPTLY, "a free place", || async {
        let mut s = TcpStream::connect(server.addr).await.ok()?;
        (get(&mut s, "/metrics").await == Some(200)).then_some(())
    })
    .await;
    grpc_serving(server.addr).await;
    let metrics = tickermesh_tests::http_get(server.addr, "/metrics").await;
    assert!(metrics.contains("tickermesh_http_connections_refused_total"));
}

/// A limit of zero is refused at start, naming the variable, by the functions and the mesh.
#[test]
fn invalid_http_limits_exit_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (bin, var) in [
        ("tickermesh", "TICKERMESH_HTTP_IDLE_TIMEOUT_MS"),
        ("tickermesh-query", "TICKERMESH_HTTP_MAX_CONNECTIONS"),
        ("tickermesh-notify", "TICKERMESH_HTTP_BODY_LIMIT_BYTES"),
    ] {
        let mut child = std::process::Command::new(tickermesh_tests::proc::workspace_bin(bin))
            .args(if bin == "tickermesh" {
                &["up"][..]
            } else {
                &[]
            })
            .env("TICKERMESH_DATA_DIR", dir.path())
            .env("PORT", tickermesh_tests::proc::free_port().to_string())
            .env("TICKERMESH_PORT", "0")
            .env(var, "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a binary that does not refuse the value would serve for ever.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{bin} started with {var}=0");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{bin} {var}: {stderr}");
        assert!(stderr.contains(var), "{bin}: {stderr}");
    }
}
