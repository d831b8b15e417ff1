//! The watch image run as Knative runs it, on MariaDB: gRPC health and reflection of the one
//! service it serves, AddWatch and RemoveWatch through the container for the owner of the
//! access token only, its cap (`TICKERMESH_MAX_WATCHES`) taken from the environment, the other
//! methods UNIMPLEMENTED, non-root with no capabilities, a clean stop on SIGTERM. It is given
//! the database and the broker (knative/watch.yaml), no signing key: a watch of a ticker with no
//! quote yet asks collect for its first price on the collect requests' topic.

use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{AddWatchRequest, RegisterUserRequest, RemoveWatchRequest};
use tickermesh_core::access::AccessToken;
use tickermesh_core::events::collect_request::CollectRequested;
use tickermesh_core::kafka::record_to_event;
use tickermesh_tests::access::{bearer, keyed_bearer};
use tickermesh_tests::containers::{build_images, profile_dir, Container, Podman};
use tickermesh_tests::db::register;
use tickermesh_tests::proc::{free_port, workspace_bin};
use tickermesh_tests::{eventually, kafka, new_key, Backend, TestDb};
use tonic::Code;

use super::{channel, reflected_services, serving, stops_cleanly, READY_WITHIN};

const SERVICE: &str = "tickermesh.v1.UserCommands";
const EMAIL: &str = "box@example.com";

fn add(ticker: &str, max_price: Option<f64>) -> AddWatchRequest {
    AddWatchRequest {
        email: EMAIL.into(),
        ticker: ticker.into(),
        max_price,
        ..Default::default()
    }
}

fn remove(ticker: &str) -> RemoveWatchRequest {
    RemoveWatchRequest {
        email: EMAIL.into(),
        ticker: ticker.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_image_adds_and_removes_watches_on_mariadb() {
    workspace_bin("tickermesh-watch");
    let podman = Podman::new();
    let image = build_images(&podman, &profile_dir(), &["watch"]).remove(0);
    assert_eq!(image.inspect("{{.Config.User}}"), "65532:65532");
    assert_eq!(image.inspect("{{.Config.Entrypoint}}"), "[/function]");

    // A confirmed user watching AAPL, with an access token whose hash is stored (ConfirmEmail is
    // the access function's, tested on its own).
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    register(&store, EMAIL, "AAPL", None, Some(250.0)).await;
    let token = AccessToken::generate().unwrap();
    sqlx::query("UPDATE users SET token_hash = ? WHERE email = ?")
        .bind(token.hash().as_bytes().to_vec())
        .bind(EMAIL)
        .execute(store.pool())
        .await
        .unwrap();
    let token = token.reveal();
    let watched = || async {
        let tickers: Vec<String> = sqlx::query_scalar(
            "SELECT s.ticker FROM subscriptions s JOIN users u ON u.id = s.user_id \
             WHERE u.email = ? ORDER BY s.id",
        )
        .bind(EMAIL)
        .fetch_all(store.pool())
        .await
        .unwrap();
        tickers
    };

    // Two watches at most: the registration's and one more.
    let port = free_port();
    let requests = kafka::topic("collect-requests", 1).await;
    let mut env = kafka::env();
    env.extend([
        ("PORT", port.to_string()),
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_COLLECT_REQUESTS_TOPIC", requests.clone()),
        ("TICKERMESH_MAX_WATCHES", "2".to_owned()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "2".to_owned()),
        ("TICKERMESH_LOG", "info,sqlx=warn".to_owned()),
    ]);
    let container = Container::start(&podman, &image, &env);
    container.wait_http_ok(port, "/metrics", READY_WITHIN);
    let status = container.process_status();
    assert!(
        status.contains("\nUid:\t65532\t65532\t65532\t65532\n"),
        "{status}"
    );
    assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");

    let ch = channel(port);
    eventually(READY_WITHIN, "watch to be SERVING", || {
        let ch = ch.clone();
        async move { (serving(ch.clone(), SERVICE).await && serving(ch, "").await).then_some(()) }
    })
    .await;
    let services = reflected_services(ch.clone()).await;
    for s in [SERVICE, "grpc.health.v1.Health"] {
        assert!(services.iter().any(|x| x == s), "{services:?}");
    }

    let mut client = UserCommandsClient::new(ch);
    // No token: refused, nothing added.
    let err = client.add_watch(add("MSFT", None)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    let key = new_key();
    let added = client
        .add_watch(keyed_bearer(add("msft", Some(500.0)), &key, &token))
        .await
        .expect("AddWatch through the watch container")
        .into_inner()
        .watch
        .expect("the new watch");
    assert_eq!(
        (added.ticker.as_str(), added.max_price, added.min_price),
        ("MSFT", Some(500.0), None)
    );
    assert_eq!(watched().await, ["AAPL", "MSFT"]);
    // MSFT has no quote: collect is asked for its first price.
    let request = first_request(&requests).await;
    assert_eq!(request.ticker, "MSFT");
    // The same key again: the stored answer, no second effect.
    let again = client
        .add_watch(keyed_bearer(add("msft", Some(500.0)), &key, &token))
        .await
        .expect("a repeated AddWatch")
        .into_inner()
        .watch
        .expect("the stored watch");
    assert_eq!(again, added);

    // The cap of the environment, not the default of 100.
    let err = client
        .add_watch(keyed_bearer(add("TSLA", None), &new_key(), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("at most 2"), "{err:?}");

    let removed = client
        .remove_watch(keyed_bearer(remove("MSFT"), &new_key(), &token))
        .await
        .expect("RemoveWatch through the watch container")
        .into_inner();
    assert_eq!(
        (removed.email.as_str(), removed.ticker.as_str()),
        (EMAIL, "MSFT")
    );
    assert_eq!(watched().await, ["AAPL"]);

    // Registering is the register function's: the router never sends it here.
    let err = client
        .register_user(bearer(
            RegisterUserRequest {
                email: "new@example.com".into(),
                ticker: "AAPL".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");

    store.close().await;
    stops_cleanly("watch", &container);
}

/// The first collect request on `topic`, read as collect's KafkaSource reads it.
async fn first_request(topic: &str) -> CollectRequested {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .set("group.id", format!("{topic}-test"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("a Kafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let message = tokio::time::timeout(std::time::Duration::from_secs(30), consumer.recv())
        .await
        .expect("a collect request on the topic")
        .expect("a record");
    let event = record_to_event(&message).expect("a CloudEvent");
    assert_eq!(
        cloudevents::AttributesReader::source(&event).to_string(),
        "/tickermesh/watch"
    );
    CollectRequested::from_event(&event).expect("a collect request")
}
