//! Each function container on its own: its one RPC, UNIMPLEMENTED for the others, and the
//! binary as a real process answering health, reflection and /metrics, stopping on SIGTERM.

use std::time::{Duration, Instant};

use std::sync::Arc;
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;

use tickermesh_api::v1::{
    ConfirmEmailRequest, DeleteUserRequest, GetLatestValueRequest, RegisterUserRequest,
    UpdateUserRequest,
};
use tickermesh_tests::access::{bearer, code_of, confirm, issuer, test_key, Discard};
use tickermesh_tests::proc::{free_port, Proc};
use tickermesh_tests::{http_get, spawn_mesh, Backend, TestDb, TestServer};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

#[tokio::test]
async fn each_command_function_serves_only_its_method() {
    let db = TestDb::new(Backend::Sqlite).await;
    let ctx = db.context().await;
    let codes = issuer(Arc::new(Discard));
    let register =
        TestServer::start(tickermesh_register::router(ctx.clone(), codes.clone()).await).await;
    let access =
        TestServer::start(tickermesh_access::router(ctx.clone(), codes, test_key()).await).await;
    let update = TestServer::start(tickermesh_update::router(ctx.clone(), None).await).await;
    let delete = TestServer::start(tickermesh_delete::router(ctx.clone()).await).await;
    let query =
        TestServer::start(tickermesh_query::router(ctx.clone(), Default::default()).await).await;

    let req = RegisterUserRequest {
        email: "fn@example.com".into(),
        ticker: "AAPL".into(),
        ..Default::default()
    };
    register
        .commands()
        .await
        .register_user(req.clone())
        .await
        .expect("register serves RegisterUser");
    for other in [&access, &update, &delete, &query] {
        let err = other
            .commands()
            .await
            .register_user(req.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    }
    let code = code_of(&ctx.store, "fn@example.com").await;
    let confirmation = ConfirmEmailRequest {
        email: "fn@example.com".into(),
        code,
    };
    for other in [&register, &update, &delete, &query] {
        let err = other
            .commands()
            .await
            .confirm_email(confirmation.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    }
    let token = access
        .commands()
        .await
        .confirm_email(confirmation)
        .await
        .expect("access serves ConfirmEmail")
        .into_inner()
        .access_token;
    let upd = UpdateUserRequest {
        email: "fn@example.com".into(),
        ticker: Some("MSFT".into()),
        ..Default::default()
    };
    assert_eq!(
        register
            .commands()
            .await
            .update_user(bearer(upd.clone(), &token))
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
    update
        .commands()
        .await
        .update_user(bearer(upd, &token))
        .await
        .expect("update serves UpdateUser");
    let latest = || {
        bearer(
            GetLatestValueRequest {
                email: "fn@example.com".into(),
                ..Default::default()
            },
            &token,
        )
    };
    assert_eq!(
        register
            .queries()
            .await
            .get_latest_value(latest())
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
    let err = query
        .queries()
        .await
        .get_latest_value(latest())
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "query serves it; there are no quotes yet"
    );
    delete
        .commands()
        .await
        .delete_user(bearer(
            DeleteUserRequest {
                email: "fn@example.com".into(),
            },
            &token,
        ))
        .await
        .expect("delete serves DeleteUser");
}

async fn wait_serving(channel: Channel, service: &str) {
    let mut health = HealthClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .map(|r| r.into_inner().status);
        if matches!(status, Ok(s) if s == ServingStatus::Serving as i32) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{service} never became SERVING: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn reflected_services(channel: Channel) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream
        .message()
        .await
        .expect("reflection reply")
        .expect("one reply");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }
}

#[tokio::test]
async fn function_binaries_run_as_processes() {
    for (bin, service) in [
        ("tickermesh-register", "tickermesh.v1.UserCommands"),
        ("tickermesh-query", "tickermesh.v1.TickerQueries"),
    ] {
        let db = TestDb::new(Backend::MariaDb).await;
        let port = free_port();
        // register publishes its confirmation e-mails to Kafka (read by notify, not here).
        let kafka = tickermesh_tests::kafka::env();
        let port_text = port.to_string();
        let mut env: Vec<(&str, &str)> = vec![
            ("PORT", &port_text),
            ("TICKERMESH_DATABASE_URL", &db.url),
            ("TICKERMESH_SHUTDOWN_GRACE_SECS", "2"),
        ];
        env.extend(kafka.iter().map(|(k, v)| (*k, v.as_str())));
        let mut proc = Proc::spawn(bin, &env);
        let url = format!("http://127.0.0.1:{port}");
        let channel = Channel::from_shared(url).expect("url").connect_lazy();
        wait_serving(channel.clone(), service).await;
        wait_serving(channel.clone(), "").await;

        let services = reflected_services(channel.clone()).await;
        assert!(services.iter().any(|s| s == service), "{bin}: {services:?}");
        assert!(
            services.iter().any(|s| s == "grpc.health.v1.Health"),
            "{services:?}"
        );

        if bin == "tickermesh-register" {
            let mut c = UserCommandsClient::new(channel.clone());
            let user = c
                .register_user(RegisterUserRequest {
                    email: "proc@example.com".into(),
                    ticker: "AAPL".into(),
                    ..Default::default()
                })
                .await
                .expect("register over the process")
                .into_inner()
                .user
                .expect("user");
            assert!(!user.confirmed);
        } else {
            // A user confirmed through an in-process mesh on the same database: the query
            // process takes its token and no other.
            let (mesh, ctx) = spawn_mesh(&db).await;
            let mut c = mesh.commands().await;
            c.register_user(RegisterUserRequest {
                email: "proc@example.com".into(),
                ticker: "AAPL".into(),
                ..Default::default()
            })
            .await
            .expect("register");
            let token = confirm(&mut c, &ctx.store, "proc@example.com").await;
            let mut q = TickerQueriesClient::new(channel.clone());
            let latest = || GetLatestValueRequest {
                email: "proc@example.com".into(),
                ..Default::default()
            };
            let err = q.get_latest_value(latest()).await.unwrap_err();
            assert_eq!(err.code(), Code::Unauthenticated, "no token: {err:?}");
            let err = q
                .get_latest_value(bearer(latest(), &token))
                .await
                .unwrap_err();
            assert_eq!(
                err.code(),
                Code::NotFound,
                "the token works; no quotes yet: {err:?}"
            );
        }
        let metrics = http_get(([127, 0, 0, 1], port).into(), "/metrics").await;
        assert!(
            metrics.contains("tickermesh_grpc_requests_total"),
            "{metrics}"
        );

        let status = proc
            .terminate(Duration::from_secs(5))
            .expect("exits after SIGTERM");
        assert!(status.success(), "{bin} exited with {status}");
    }
}

#[test]
fn invalid_config_exits_non_zero_naming_the_variable() {
    let bin = tickermesh_tests::proc::workspace_bin("tickermesh-delete");
    let out = std::process::Command::new(bin)
        .env("PORT", "http")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORT"), "{stderr}");

    let bin = tickermesh_tests::proc::workspace_bin("tickermesh-query");
    let out = std::process::Command::new(bin)
        .env("TICKERMESH_DB_MAX_CONNECTIONS", "0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TICKERMESH_DB_MAX_CONNECTIONS"));
}

/// `tickermesh up` reads the same typed settings as the functions, with the same checks: what
/// a function refuses, the local mesh refuses too (exit 2, naming the variable).
#[test]
fn tickermesh_up_checks_config_as_the_functions_do() {
    let bin = tickermesh_tests::proc::workspace_bin("tickermesh");
    let dir = tempfile::tempdir().expect("temp dir");
    for (var, value) in [
        ("TICKERMESH_IDEMPOTENCY_TTL_SECS", "0"),
        ("TICKERMESH_DB_MAX_CONNECTIONS", "0"),
        ("TICKERMESH_QUERY_CACHE_MS", "soon"),
        ("TICKERMESH_COLLECT_CONCURRENCY", "0"),
    ] {
        let out = std::process::Command::new(&bin)
            .arg("up")
            .env("TICKERMESH_DATA_DIR", dir.path())
            .env(var, value)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
    // The port has one source: the flag, or its variable (shown in --help).
    let help = std::process::Command::new(&bin)
        .args(["up", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("env: TICKERMESH_PORT"), "{help}");
    assert!(help.contains("env: TICKERMESH_DATA_DIR"), "{help}");
}

/// The README's run command: `tickermesh up` prints what runs where, answers, and stops
/// cleanly on Ctrl-C (SIGINT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickermesh_up_runs_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let bin = tickermesh_tests::proc::workspace_bin("tickermesh");
    let child = std::process::Command::new(bin)
        .arg("up")
        .env("TICKERMESH_PORT", port.to_string())
        .env("TICKERMESH_DATA_DIR", dir.path())
        .env_remove("TICKERMESH_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tickermesh up");
    let mut proc = Proc { child };
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect_lazy();
    wait_serving(channel.clone(), "tickermesh.v1.UserCommands").await;
    wait_serving(channel.clone(), "tickermesh.v1.TickerQueries").await;
    UserCommandsClient::new(channel)
        .register_user(RegisterUserRequest {
            email: "up@example.com".into(),
            ticker: "AAPL".into(),
            ..Default::default()
        })
        .await
        .expect("register through tickermesh up");
    assert!(
        dir.path().join("tickermesh.db").exists(),
        "SQLite in the data folder"
    );

    let _ = std::process::Command::new("kill")
        .args(["-INT", &proc.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = proc.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "tickermesh up did not stop on Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut proc.child.stdout.take().expect("stdout"), &mut out)
        .expect("read stdout");
    assert!(
        out.contains(&format!("gRPC     http://127.0.0.1:{port}")),
        "{out}"
    );
    assert!(out.contains("/metrics"), "{out}");
    assert!(out.contains("tickermesh stopped"), "{out}");
}
