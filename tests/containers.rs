//! The function images, built by podman from minikube/Dockerfile's runtime stage fed with the
//! binaries cargo built, run as Knative runs them: `PORT` set, the image's non-root user, a
//! read-only root filesystem, no capabilities, the signing key only where the manifests put it.
//! Each answers what its Service is probed and called with and stops on SIGTERM with exit code
//! 0; register and query complete a round trip on MariaDB, and so do AddWatch and RemoveWatch
//! through the watch image; collect → evaluate → notify mail one alert through the tansu
//! broker and a real SMTP server; collect takes a collect request as its KafkaSource delivers
//! it; digest and retention take their cron ticks, retention with the manifest's settings. Needs podman and runc (tests/tools.sh installs them): without them these tests
//! fail.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{GetLatestValueRequest, RegisterUserRequest};
use tickermesh_core::access::AccessToken;
use tickermesh_core::events::{Direction, QuoteCollected, ThresholdCrossed};
use tickermesh_core::kafka::record_to_event;
use tickermesh_core::store::quotes::{self, Quote};
use tickermesh_tests::containers::{debug_images, Container, Images, Podman, FUNCTIONS};
use tickermesh_tests::db::{insert_prices, register};
use tickermesh_tests::proc::free_port;
use tickermesh_tests::smtp::{Mail, SmtpServer};
use tickermesh_tests::yahoo::{FakeYahoo, Reply};
use tickermesh_tests::{eventually, http_get, kafka, keyed, new_key, ping, Backend, TestDb};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// The pod's termination grace period in these tests (`podman stop --time`); the functions
/// are given 2 s to finish open requests, so they must be well inside it.
const GRACE: Duration = Duration::from_secs(10);
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The functions that read `TICKERMESH_SIGNING_KEY`, as the manifests give it (and only to them).
const READS_SIGNING_KEY: [&str; 3] = ["access", "notify", "unsubscribe"];
/// The signing key of these tests' containers.
const SIGNING_KEY: &str = "a container test signing key, 32 bytes or more";

/// The gRPC service a function's readiness probe names (knative/<f>.yaml), for the functions
/// that serve gRPC.
fn grpc_service(f: &str) -> Option<&'static str> {
    match f {
        "register" | "access" | "update" | "delete" | "watch" => Some("tickermesh.v1.UserCommands"),
        "query" => Some("tickermesh.v1.TickerQueries"),
        _ => None,
    }
}

/// A function container on its own port, with the settings every function gets.
fn start(images: &Images, f: &str, port: u16, env: &[(&'static str, String)]) -> Container {
    let mut all = vec![
        ("PORT", port.to_string()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "2".into()),
        ("TICKERMESH_LOG", "info,sqlx=warn".into()),
    ];
    all.extend(env.iter().cloned());
    let container = Container::start(&images.podman, images.get(f), &all);
    container.wait_http_ok(port, "/metrics", READY_WITHIN);
    container
}

fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect_lazy()
}

async fn serving(channel: Channel, service: &str) -> bool {
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status);
    matches!(status, Ok(s) if s == ServingStatus::Serving as i32)
}

async fn reflected_services(channel: Channel) -> Vec<String> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    match replies.message().await.expect("reflection reply") {
        Some(reply) => match reply.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("unexpected reflection reply {other:?}"),
        },
        None => panic!("no reflection reply"),
    }
}

/// The CloudEvent source of each event type: the function that publishes it.
fn source_of(ty: &str) -> &'static str {
    if ty == "tickermesh.quote.collected" {
        "/tickermesh/collect"
    } else {
        "/tickermesh/evaluate"
    }
}

/// POSTs `data` as one CloudEvent in binary mode, as a KafkaSource delivers a record.
async fn deliver(port: u16, ty: &str, id: &str, data: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-type", ty)
        // A KafkaSource forwards a record that is a CloudEvent with its own attributes, so
        // the source is the function that published it.
        .header("ce-source", source_of(ty))
        .header("content-type", "application/json")
        .body(data.to_string())
        .send()
        .await
        .expect("POST the CloudEvent")
}

/// The first alert on `topic`, read as a KafkaSource reads it.
async fn first_alert(topic: &str) -> ThresholdCrossed {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .set("group.id", format!("{topic}-test"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("a Kafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("an alert on the topic")
        .expect("a record");
    let event = record_to_event(&message).expect("a CloudEvent");
    ThresholdCrossed::from_event(&event).expect("an alert")
}

/// The retention settings knative/retention.yaml gives the function, as plain values.
fn retention_settings() -> Vec<(&'static str, String)> {
    let docs = tickermesh_tests::manifests::all();
    let container = docs
        .iter()
        .find(|d| d.kind() == "Service" && d.name() == "tickermesh-retention")
        .map(|d| &d.value["spec"]["template"]["spec"]["containers"][0])
        .expect("knative/retention.yaml");
    ["TICKERMESH_QUOTE_RETENTION", "TICKERMESH_ALERT_RETENTION"]
        .into_iter()
        .map(|name| {
            let value = container["env"]
                .as_array()
                .and_then(|env| env.iter().find(|e| e["name"] == name))
                .and_then(|e| e["value"].as_str())
                .unwrap_or_else(|| panic!("knative/retention.yaml sets no {name}"));
            (name, value.to_owned())
        })
        .collect()
}

/// SIGTERM stops `container` well within the grace period, with exit code 0 (137 would mean it
/// had to be killed).
fn stops_cleanly(f: &str, container: &Container) {
    let (code, took) = container.stop(GRACE);
    assert_eq!(code, 0, "{f} exited with {code}: {}", container.logs());
    assert!(took < GRACE, "{f} took {took:?} to stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_image_runs_as_knative_runs_it() {
    let images = debug_images();
    for f in FUNCTIONS {
        let image = images.get(f);
        assert_eq!(image.inspect("{{.Config.User}}"), "65532:65532", "{f}");
        assert_eq!(
            image.inspect("{{.Config.Entrypoint}}"),
            "[/function]",
            "{f}"
        );
        let image_env = image.inspect("{{.Config.Env}}");
        assert!(image_env.contains("PORT=8080"), "{f}: {image_env}");
        // Settings and secrets come from the deployment, never from the image.
        assert!(!image_env.contains("TICKERMESH_"), "{f}: {image_env}");
    }
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    register(&store, "box@example.com", "AAPL", None, Some(100.0)).await;
    store.close().await;
    let smtp = SmtpServer::start();
    let yahoo = FakeYahoo::start().await;
    let alerts_topic = kafka::topic("alerts", 1).await;
    let mut env = kafka::env();
    env.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_SMTP_URL", smtp.url()),
        ("TICKERMESH_YAHOO_BASE_URL", yahoo.base_url()),
        ("TICKERMESH_QUOTES_TOPIC", kafka::topic("quotes", 1).await),
        ("TICKERMESH_ALERTS_TOPIC", alerts_topic.clone()),
    ]);
    let running: Vec<(&str, u16, Container)> = FUNCTIONS
        .iter()
        .map(|f| {
            let port = free_port();
            let mut env = env.clone();
            if READS_SIGNING_KEY.contains(f) {
                env.push(("TICKERMESH_SIGNING_KEY", SIGNING_KEY.to_owned()));
            }
            if *f == "retention" {
                env.extend(retention_settings());
            }
            (*f, port, start(&images, f, port, &env))
        })
        .collect();

    for (f, port, container) in &running {
        let status = container.process_status();
        assert!(
            status.contains("\nUid:\t65532\t65532\t65532\t65532\n"),
            "{f}: {status}"
        );
        assert!(
            status.contains("\nCapEff:\t0000000000000000\n"),
            "{f}: {status}"
        );
        let metrics = http_get(([127, 0, 0, 1], *port).into(), "/metrics").await;
        assert!(
            metrics.contains("content-type: text/plain; version=0.0.4"),
            "{f}: not Prometheus' text format: {metrics}"
        );
        let Some(service) = grpc_service(f) else {
            continue;
        };
        let ch = channel(*port);
        eventually(READY_WITHIN, "the gRPC service to be SERVING", || {
            let ch = ch.clone();
            async move { (serving(ch.clone(), service).await && serving(ch, "").await).then_some(()) }
        })
        .await;
        let services = reflected_services(ch).await;
        for s in [service, "grpc.health.v1.Health"] {
            assert!(services.iter().any(|x| x == s), "{f}: {services:?}");
        }
    }

    let port = |name: &str| {
        running
            .iter()
            .find(|(f, ..)| *f == name)
            .map(|r| r.1)
            .unwrap()
    };
    let r = ping(&format!("http://127.0.0.1:{}/", port("collect"))).await;
    assert_eq!(r.status(), 200, "collect takes the tick");
    // A collect request, as its KafkaSource delivers it: a ticker nobody watches is not
    // fetched (202); a bad one is refused (400), not retried.
    let ty = "tickermesh.collect.requested";
    let unwatched = serde_json::json!({"ticker": "TSLA"});
    let r = deliver(port("collect"), ty, "collect-TSLA-1", &unwatched).await;
    assert_eq!(r.status(), 202, "collect takes a collect request");
    let bad = serde_json::json!({"ticker": "no such ticker!"});
    let r = deliver(port("collect"), ty, "collect-bad-1", &bad).await;
    assert_eq!(r.status(), 400, "a bad collect request");
    assert_eq!(yahoo.requests(), 1, "only the tick asked the market");
    // The scheduled functions take their ticks.
    for f in ["digest", "retention"] {
        let r = ping(&format!("http://127.0.0.1:{}/", port(f))).await;
        assert_eq!(r.status(), 200, "{f} takes its tick: {:?}", r.text().await);
    }
    // evaluate takes only a quote that was collected: stored, with a plausible market time.
    let now = tickermesh_core::now_unix_ms();
    let quote = Quote {
        ticker: "AAPL".into(),
        price: 120.0,
        currency: "USD".into(),
        market_time_ms: now - 60_000,
        collected_at_ms: now,
        simulated: false,
        previous_close: None,
    };
    let store = db.store().await;
    let stored = quotes::insert(store.pool(), store.backend(), &quote).await;
    assert!(stored.expect("store the quote"), "a new quote");
    store.close().await;
    let event = QuoteCollected {
        ticker: quote.ticker,
        price: quote.price,
        currency: quote.currency,
        market_time_ms: quote.market_time_ms,
        collected_at_ms: quote.collected_at_ms,
        simulated: false,
        previous_close: None,
    };
    let data = serde_json::to_value(&event).unwrap();
    let id = format!("AAPL@{}", event.market_time_ms);
    let r = deliver(port("evaluate"), "tickermesh.quote.collected", &id, &data).await;
    assert_eq!(r.status(), 202, "evaluate takes a quote");
    // notify takes only an alert that evaluate stored: the one evaluate just published, taken
    // from the alerts topic and delivered over HTTP as a KafkaSource would deliver it.
    let alert = first_alert(&alerts_topic).await;
    assert_eq!(
        (alert.email.as_str(), alert.direction),
        ("box@example.com", Direction::Above)
    );
    let data = serde_json::to_value(&alert).unwrap();
    let ty = "tickermesh.threshold.crossed";
    let r = deliver(port("notify"), ty, &alert.alert_id, &data).await;
    assert_eq!(r.status(), 202, "notify takes an alert");
    let mail = eventually(Duration::from_secs(10), "notify's e-mail", || async {
        smtp.mails().first().cloned()
    })
    .await;
    assert_eq!(mail.to, vec!["box@example.com".to_owned()]);

    for (f, _, container) in &running {
        stops_cleanly(f, container);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_query_containers_round_trip_on_mariadb() {
    let images = debug_images();
    let db = TestDb::new(Backend::MariaDb).await;
    let env = [("TICKERMESH_DATABASE_URL", db.url.clone())];
    let (register_port, query_port) = (free_port(), free_port());
    // register publishes the confirmation code's e-mail to the alerts topic.
    let mut register_env = kafka::env();
    register_env.extend(env.iter().cloned());
    register_env.push(("TICKERMESH_ALERTS_TOPIC", kafka::topic("alerts", 1).await));
    let register_fn = start(&images, "register", register_port, &register_env);
    let query_fn = start(&images, "query", query_port, &env);

    let request = RegisterUserRequest {
        email: "Box@Example.com".into(),
        ticker: "aapl".into(),
        max_price: Some(250.0),
        ..Default::default()
    };
    let user = UserCommandsClient::new(channel(register_port))
        .register_user(keyed(request.clone(), &new_key()))
        .await
        .expect("RegisterUser through the register container")
        .into_inner()
        .user
        .expect("the registered user");
    assert_eq!(
        (user.email.as_str(), user.ticker.as_str(), user.max_price),
        ("box@example.com", "AAPL", Some(250.0))
    );
    let err = UserCommandsClient::new(channel(query_port))
        .register_user(request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "query serves only queries");

    // The address confirmed as ConfirmEmail would (that path is the access function's, tested
    // on its own): an access token whose hash is stored, sent as a bearer token.
    let token = AccessToken::generate().unwrap();
    let store = db.store().await;
    sqlx::query("UPDATE users SET confirmed_at_ms = ?, token_hash = ? WHERE email = ?")
        .bind(tickermesh_core::now_unix_ms())
        .bind(token.hash().as_bytes().to_vec())
        .bind("box@example.com")
        .execute(store.pool())
        .await
        .unwrap();
    let latest = || {
        let mut request = tonic::Request::new(GetLatestValueRequest {
            email: "box@example.com".into(),
            ..Default::default()
        });
        let bearer = format!("Bearer {}", token.reveal()).parse().unwrap();
        request.metadata_mut().insert("authorization", bearer);
        request
    };
    let mut queries = TickerQueriesClient::new(channel(query_port));
    let err = queries.get_latest_value(latest()).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "no quote yet: {err:?}");
    insert_prices(&store, "AAPL", &[187.25]).await;
    store.close().await;
    let quote = queries
        .get_latest_value(latest())
        .await
        .expect("GetLatestValue through the query container")
        .into_inner()
        .quote
        .expect("a quote");
    assert_eq!((quote.ticker.as_str(), quote.price), ("AAPL", 187.25));
    assert_eq!(quote.market_time_unix_ms, 1_000);

    stops_cleanly("register", &register_fn);
    stops_cleanly("query", &query_fn);
}

/// Waits for `count` e-mails; panics with the containers' output when they do not come.
async fn mails(smtp: &SmtpServer, count: usize, containers: &[&Container]) -> Vec<Mail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mails = smtp.mails();
        if mails.len() >= count {
            return mails;
        }
        if tokio::time::Instant::now() > deadline {
            let logs: Vec<String> = containers.iter().map(|c| c.logs()).collect();
            panic!(
                "{} of {count} e-mails arrived; the functions said:\n{}",
                mails.len(),
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_evaluate_notify_containers_mail_one_crossing() {
    let images = debug_images();
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    register(&store, "ada@example.com", "AAPL", None, Some(250.0)).await;
    register(&store, "bob@example.com", "AAPL", None, Some(262.0)).await;
    store.close().await;
    let yahoo = FakeYahoo::start().await;
    let smtp = SmtpServer::start();
    let quotes = kafka::topic("quotes", 1).await;
    let alerts = kafka::topic("alerts", 1).await;
    let mut env = kafka::env();
    env.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_QUOTES_TOPIC", quotes.clone()),
        ("TICKERMESH_ALERTS_TOPIC", alerts.clone()),
    ]);
    let with = |extra: &[(&'static str, String)]| {
        let mut all = env.clone();
        all.extend(extra.iter().cloned());
        all
    };
    let collect_port = free_port();
    let collect_fn = start(
        &images,
        "collect",
        collect_port,
        &with(&[("TICKERMESH_YAHOO_BASE_URL", yahoo.base_url())]),
    );
    // evaluate and notify as their KEDA Deployments run: consumer groups on the topics.
    let evaluate_fn = start(
        &images,
        "evaluate",
        free_port(),
        &with(&[("TICKERMESH_CONSUMER_GROUP", format!("{quotes}-evaluate"))]),
    );
    let notify_fn = start(
        &images,
        "notify",
        free_port(),
        &with(&[
            ("TICKERMESH_CONSUMER_GROUP", format!("{alerts}-notify")),
            ("TICKERMESH_SIGNING_KEY", SIGNING_KEY.to_owned()),
            ("TICKERMESH_SMTP_URL", smtp.url()),
            (
                "TICKERMESH_MAIL_FROM",
                "tickermesh <alerts@example.com>".into(),
            ),
        ]),
    );
    let all = [&collect_fn, &evaluate_fn, &notify_fn];
    let tick = |price: f64, market_time_s: i64| {
        yahoo.set(
            "AAPL",
            Reply::Price {
                price,
                market_time_s,
            },
        );
        async move {
            let r = ping(&format!("http://127.0.0.1:{collect_port}/")).await;
            assert_eq!(r.status(), 200, "{:?}", r.text().await);
        }
    };

    // Above ada's maximum, below bob's: one e-mail, to ada.
    let now_s = tickermesh_core::now_unix_ms() / 1000;
    tick(260.0, now_s - 120).await;
    let first = mails(&smtp, 1, &all).await;
    assert_eq!(first[0].to, vec!["ada@example.com".to_owned()]);
    let data = &first[0].data;
    assert!(
        data.contains("AAPL rose above your maximum of 250.00 USD."),
        "{data}"
    );
    assert!(data.contains("Price: 260.00 USD"), "{data}");

    // Above both: bob's crossing mails bob; ada, still above, gets nothing more. bob's e-mail
    // comes from the same evaluation as a second one for ada would, so it is the sign that
    // the quote went all the way through.
    tick(265.0, now_s - 60).await;
    let second = mails(&smtp, 2, &all).await;
    assert_eq!(second[1].to, vec!["bob@example.com".to_owned()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to: Vec<Vec<String>> = smtp.mails().into_iter().map(|m| m.to).collect();
    assert_eq!(
        to,
        [["ada@example.com"], ["bob@example.com"]],
        "one e-mail per crossing"
    );

    for (f, container) in [
        ("collect", &collect_fn),
        ("evaluate", &evaluate_fn),
        ("notify", &notify_fn),
    ] {
        stops_cleanly(f, container);
    }
}

/// minikube/Dockerfile's stages: instructions without comments, split at each `FROM`.
fn dockerfile_stages() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("minikube/Dockerfile"))
            .expect("minikube/Dockerfile");
    let mut stages = vec![String::new()];
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if line.starts_with("FROM ") {
            stages.push(String::new());
        }
        let stage = stages.last_mut().expect("a stage");
        stage.push_str(line);
        stage.push('\n');
    }
    stages
}

/// The image builds share the build stage's layer cache only when nothing in it depends on the
/// function: one release build of every binary, the choice in the runtime stage.
#[test]
fn one_build_stage_serves_every_image() {
    let stages = dockerfile_stages();
    assert_eq!(stages.len(), 3, "global ARGs, build, runtime: {stages:?}");
    let (build, runtime) = (&stages[1], &stages[2]);
    assert!(
        build.starts_with("FROM ") && build.contains(" AS build"),
        "{build}"
    );
    assert!(
        !build.contains("ARG ") && !build.contains("FUNCTION"),
        "the build stage depends on the function:\n{build}"
    );
    assert!(build.contains("cargo build --release --locked"), "{build}");
    // The functions it builds: exactly the images the tests build and run.
    let listed = build
        .split("fns=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no fns=\"...\" list:\n{build}"));
    let mut built: Vec<&str> = listed.split_whitespace().collect();
    let mut expected = FUNCTIONS.to_vec();
    built.sort_unstable();
    expected.sort_unstable();
    assert_eq!(built, expected, "{build}");
    assert!(runtime.contains("\nARG FUNCTION\n"), "{runtime}");
    assert!(
        runtime.contains("COPY --from=build /out/tickermesh-${FUNCTION}/ /"),
        "{runtime}"
    );
}

/// .dockerignore keeps secrets (minikube/.env) and build output out of the build context: a
/// context with such files, copied whole into an image by podman, holds only the sources.
#[test]
fn secrets_and_build_output_stay_out_of_the_build_context() {
    let context = tempfile::tempdir().expect("temp dir");
    let root = context.path();
    for dir in ["minikube", "target/debug", ".git", "functions/core"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore"),
        root.join(".dockerignore"),
    )
    .expect("copy .dockerignore");
    for file in [
        "minikube/.env",
        ".env",
        "target/debug/x",
        ".git/config",
        "tickermesh.db",
        "minikube/env.example",
        "functions/core/lib.rs",
    ] {
        std::fs::write(root.join(file), "MYSQL_ROOT_PASSWORD=not-for-an-image\n").expect("write");
    }
    std::fs::write(root.join("Containerfile"), "FROM scratch\nCOPY . /ctx/\n").expect("write");
    let copied = tempfile::tempdir().expect("temp dir");
    let output = format!("type=local,dest={}", copied.path().display());
    let containerfile = root.join("Containerfile");
    let args: [&OsStr; 4] = [
        "-f".as_ref(),
        containerfile.as_ref(),
        "--output".as_ref(),
        output.as_ref(),
    ];
    let _image = Podman::new().build("context", &args, root);
    let ctx = copied.path().join("ctx");
    for kept in ["minikube/env.example", "functions/core/lib.rs"] {
        assert!(
            ctx.join(kept).exists(),
            "{kept} is missing from the context"
        );
    }
    for left_out in ["minikube/.env", ".env", "target", ".git", "tickermesh.db"] {
        assert!(
            !ctx.join(left_out).exists(),
            "{left_out} reached the build context"
        );
    }
}

// What only the access, unsubscribe and watch images are asked, each by a test that builds its
// own image (the images above are shared by the tests that run at the same time).
#[path = "containers/access.rs"]
mod access;
#[path = "containers/unsubscribe.rs"]
mod unsubscribe;
#[path = "containers/watch.rs"]
mod watch;
