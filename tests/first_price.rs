//! A first price at once (issue 13): a ticker nobody has collected yet is fetched by collect
//! within seconds of someone being able to see it, asked by an event
//! (`tickermesh.collect.requested`): GetLatestValue answers right after RegisterUser and
//! ConfirmEmail (the registration alone asks nothing: an unconfirmed address reads no price and
//! is mailed no alert), ListWatches shows a new watch's price right after AddWatch, and
//! GetLatestValue a watch's new ticker right after UpdateUser moved it there (an update that
//! keeps the ticker asks nothing).
//!
//! Inside `tickermesh up` (in-process bus, and Kafka), on SQLite and MariaDB, with the
//! collector's period an hour and its first tick over before anyone watches anything: only the
//! request can explain a quote. The fake Yahoo counts every request: a ticker that has quotes,
//! or that the market said it does not know, makes none, and a burst of registrations for one
//! new ticker makes one.
//!
//! Across processes on the tansu broker: the access binary publishes the request when the
//! register binary's registration is confirmed, the update binary when a watch moves to a new
//! ticker, and the collect binary takes it over HTTP as its
//! KafkaSource delivers it, stores and publishes the quote, answers a repeat without asking the
//! market again, and refuses a bad request (400).

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use tickermesh::up;
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{
    AddWatchRequest, GetLatestValueRequest, ListWatchesRequest, Quote, RegisterUserRequest,
    ThresholdChange, UpdateUserRequest,
};
use tickermesh_core::domain::{Email, Ticker};
use tickermesh_core::events::collect_request::{CollectRequested, COLLECT_REQUESTED};
use tickermesh_core::events::QuoteCollected;
use tickermesh_core::kafka::record_to_event;
use tickermesh_tests::access::{bearer, confirm, TEST_KEY};
use tickermesh_tests::db::insert_prices;
use tickermesh_tests::proc::{free_port, Proc};
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::TestServer;
use tickermesh_tests::{eventually, kafka, keyed, new_key, on_both_backends, Backend, TestDb};
use tonic::transport::Channel;

/// `tickermesh up` over a fresh database and a fake Yahoo; its collector ticks once an hour.
struct Mesh {
    db: TestDb,
    _dir: tempfile::TempDir,
    yahoo: FakeYahoo,
    _mesh: up::Mesh,
    server: TestServer,
    /// How long a first price may take: the bus hands a request over at once; a Kafka consumer
    /// group first joins (seconds on the test broker).
    within: Duration,
}

impl Mesh {
    async fn start(backend: Backend, on_kafka: bool) -> Self {
        tickermesh_tests::init_logs();
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let yahoo = FakeYahoo::start().await;
        let mut config = tickermesh_tests::up::config(&db, dir.path(), &yahoo);
        assert_eq!(config.collect_interval, Duration::from_secs(3600));
        if on_kafka {
            config.kafka = Some(kafka::settings());
            config.collect.quotes_topic = kafka::topic("fp-quotes", 1).await;
            config.alerts_topic = kafka::topic("fp-alerts", 1).await;
            config.access.topic = config.alerts_topic.clone();
            config.collect_requests_topic = kafka::topic("fp-collect-requests", 1).await;
        }
        // AAPL has quotes (collected long ago); anything else is new.
        let store = db.store().await;
        insert_prices(&store, "AAPL", &[180.0, 181.0]).await;
        store.close().await;
        let mesh = up::build(&config).await.unwrap();
        let server = TestServer::start(mesh.router.clone()).await;
        // The mesh ticks once at start; wait until a tick has run with nothing to collect, so
        // that no tick is left to fetch what the test watches next.
        eventually(Duration::from_secs(10), "a tick that ran", || async {
            let response = tickermesh_tests::ping(&format!("{}/collect", server.url())).await;
            assert_eq!(response.status(), 200);
            let report: serde_json::Value = response.json().await.unwrap();
            (report["skipped"] == false).then_some(report)
        })
        .await;
        assert_eq!(yahoo.requests(), 0, "no tick fetched anything");
        Self {
            db,
            _dir: dir,
            yahoo,
            _mesh: mesh,
            server,
            within: Duration::from_secs(if on_kafka { 30 } else { 5 }),
        }
    }

    /// A price the market gives for `ticker` from now on.
    fn market(&self, ticker: &str, price: f64) {
        let market_time_s = recent_s();
        self.yahoo.set(
            ticker,
            Reply::Price {
                price,
                market_time_s,
            },
        );
    }

    async fn commands(&self) -> UserCommandsClient<Channel> {
        self.server.commands().await
    }

    /// Registers and confirms `email` watching `ticker`; its access token.
    async fn sign_up(&self, email: &str, ticker: &str) -> String {
        self.register(email, ticker).await;
        self.confirm(email).await
    }

    async fn register(&self, email: &str, ticker: &str) {
        let request = RegisterUserRequest {
            email: email.into(),
            ticker: ticker.into(),
            ..Default::default()
        };
        self.commands()
            .await
            .register_user(keyed(request, &new_key()))
            .await
            .expect("RegisterUser");
    }

    /// Confirms `email` with its code; its access token.
    async fn confirm(&self, email: &str) -> String {
        let mut commands = self.commands().await;
        let store = self.db.store().await;
        let token = confirm(&mut commands, &store, email).await;
        store.close().await;
        token
    }

    async fn add_watch(&self, email: &str, token: &str, ticker: &str) {
        let request = AddWatchRequest {
            email: email.into(),
            ticker: ticker.into(),
            ..Default::default()
        };
        self.commands()
            .await
            .add_watch(bearer(request, token))
            .await
            .expect("AddWatch");
    }

    /// UpdateUser of `email`'s only watch: to `ticker` when given, with a new `max_price`.
    async fn update(&self, email: &str, token: &str, ticker: Option<&str>, max_price: f64) {
        let request = UpdateUserRequest {
            email: email.into(),
            ticker: ticker.map(Into::into),
            max_price: Some(ThresholdChange {
                change: Some(Change::Set(max_price)),
            }),
            ..Default::default()
        };
        self.commands()
            .await
            .update_user(bearer(request, token))
            .await
            .expect("UpdateUser");
    }

    /// The latest quote of `email`'s `ticker`, once there is one (within [`Mesh::within`]).
    async fn first_price(&self, email: &str, token: &str, ticker: &str) -> Quote {
        let mut queries = self.server.queries().await;
        eventually(self.within, &format!("a first price of {ticker}"), || {
            let request = GetLatestValueRequest {
                email: email.into(),
                ticker: Some(ticker.into()),
            };
            let mut queries = queries.clone();
            async move {
                match queries.get_latest_value(bearer(request, token)).await {
                    Ok(r) => r.into_inner().quote,
                    Err(status) => {
                        assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
                        None
                    }
                }
            }
        })
        .await;
        let request = GetLatestValueRequest {
            email: email.into(),
            ticker: Some(ticker.into()),
        };
        queries
            .get_latest_value(bearer(request, token))
            .await
            .unwrap()
            .into_inner()
            .quote
            .unwrap()
    }

    /// The fake Yahoo's request count once requests in flight have arrived.
    async fn market_requests(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.yahoo.requests()
    }
}

async fn first_price_at_once(backend: Backend, on_kafka: bool) {
    let mesh = Mesh::start(backend, on_kafka).await;
    const ADA: &str = "ada@example.com";
    const BOB: &str = "bob@example.com";

    // RegisterUser of a ticker nobody watched asks nothing yet; ConfirmEmail does: its price
    // within seconds, the market asked once.
    mesh.market("NVDA", 131.5);
    mesh.register(ADA, "NVDA").await;
    assert_eq!(
        mesh.market_requests().await,
        0,
        "nothing before the confirmation"
    );
    let ada = mesh.confirm(ADA).await;
    let quote = mesh.first_price(ADA, &ada, "NVDA").await;
    assert_eq!((quote.ticker.as_str(), quote.price), ("NVDA", 131.5));
    assert_eq!(mesh.market_requests().await, 1);

    // Tickers with quotes make no request: AAPL (collected long ago) at registration, NVDA
    // (just collected) by AddWatch. Then AddWatch of a new one, MSFT: ListWatches shows its
    // price, and the market was asked for MSFT alone.
    mesh.market("AAPL", 190.0);
    mesh.market("MSFT", 420.25);
    let bob = mesh.sign_up(BOB, "AAPL").await;
    mesh.add_watch(BOB, &bob, "NVDA").await;
    mesh.add_watch(BOB, &bob, "MSFT").await;
    let msft = mesh.first_price(BOB, &bob, "MSFT").await;
    assert_eq!(msft.price, 420.25);
    assert_eq!(mesh.market_requests().await, 2, "only MSFT was fetched");
    let listed = mesh
        .server
        .queries()
        .await
        .list_watches(bearer(ListWatchesRequest { email: BOB.into() }, &bob))
        .await
        .unwrap()
        .into_inner()
        .watches;
    let prices: Vec<(String, f64)> = listed
        .iter()
        .map(|w| {
            let watch = w.watch.clone().unwrap();
            (
                watch.ticker,
                w.latest.clone().expect("a latest quote").price,
            )
        })
        .collect();
    let expected = [("AAPL", 181.0), ("NVDA", 131.5), ("MSFT", 420.25)];
    assert_eq!(
        prices,
        expected.map(|(t, p)| (t.to_owned(), p)),
        "AAPL keeps its old quote: nothing asked for it"
    );

    // A burst of registrations for one new ticker: one request to the market.
    mesh.market("AMD", 150.0);
    let emails: Vec<String> = (0..4).map(|i| format!("amd{i}@example.com")).collect();
    let tokens = futures::future::join_all(emails.iter().map(|e| mesh.sign_up(e, "AMD"))).await;
    let amd = mesh.first_price(&emails[0], &tokens[0], "AMD").await;
    assert_eq!(amd.price, 150.0);
    assert_eq!(mesh.market_requests().await, 3, "AMD was fetched once");

    // A symbol the market does not know (the fake answers 404): asked once, marked unknown at
    // once, and watching it again asks nothing.
    let carol = mesh.sign_up("carol@example.com", "ZZZZ").await;
    let queries = mesh.server.queries().await;
    eventually(mesh.within, "ZZZZ marked unknown", || {
        let request = ListWatchesRequest {
            email: "carol@example.com".into(),
        };
        let mut queries = queries.clone();
        let carol = carol.clone();
        async move {
            let listed = queries
                .list_watches(bearer(request, &carol))
                .await
                .unwrap()
                .into_inner()
                .watches;
            listed[0].unknown_symbol.then_some(())
        }
    })
    .await;
    assert_eq!(mesh.market_requests().await, 4);
    mesh.add_watch(BOB, &bob, "ZZZZ").await;
    assert_eq!(
        mesh.market_requests().await,
        4,
        "a known-unknown symbol is not asked for"
    );

    // UpdateUser that keeps the ticker asks nothing, even of one without a quote: dan, confirmed
    // straight in the database watching QQQ (so nothing asked for it), changes a threshold, then
    // names QQQ again with another. Had either asked, QQQ (still watched) would be fetched
    // before what ada asks next, on the same bus or partition.
    mesh.market("QQQ", 480.0);
    let store = mesh.db.store().await;
    let email = Email::parse("email", "dan@example.com").unwrap();
    let qqq = Ticker::parse("ticker", "QQQ").unwrap();
    let dan = tickermesh::seed::seed_user(&store, &email, &qqq)
        .await
        .unwrap()
        .reveal();
    store.close().await;
    mesh.update(email.as_str(), &dan, None, 500.0).await;
    mesh.update(email.as_str(), &dan, Some("qqq"), 510.0).await;
    // ada moves her watch from NVDA to INTC, which nobody watched: its price within seconds,
    // and the market was asked for INTC alone.
    mesh.market("INTC", 24.5);
    mesh.update(ADA, &ada, Some("intc"), 30.0).await;
    let intc = mesh.first_price(ADA, &ada, "INTC").await;
    assert_eq!((intc.ticker.as_str(), intc.price), ("INTC", 24.5));
    assert_eq!(
        mesh.market_requests().await,
        5,
        "only INTC was fetched: an update keeping QQQ asked nothing"
    );
    let request = GetLatestValueRequest {
        email: email.as_str().into(),
        ticker: Some("QQQ".into()),
    };
    let status = mesh
        .server
        .queries()
        .await
        .get_latest_value(bearer(request, &dan))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "QQQ has no quote");
}

async fn on_the_bus(backend: Backend) {
    first_price_at_once(backend, false).await
}
on_both_backends!(first_price_in_tickermesh_up, on_the_bus);

async fn on_kafka(backend: Backend) {
    first_price_at_once(backend, true).await
}
on_both_backends!(first_price_in_tickermesh_up_on_kafka, on_kafka);

async fn healthy(port: u16, path: &str) {
    eventually(
        Duration::from_secs(30),
        "a function to answer",
        || async move {
            let ok = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
                .await
                .is_ok_and(|r| r.status().is_success());
            ok.then_some(())
        },
    )
    .await;
}

/// A consumer of `topic` from its start, in a group of its own.
fn reader(topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .set("group.id", format!("{topic}-test"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// The next record of `consumer`: its key and CloudEvent.
async fn next_event(consumer: &StreamConsumer) -> (String, cloudevents::Event) {
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record on the topic")
        .unwrap();
    let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
    (key, record_to_event(&message).expect("a CloudEvent"))
}

/// POSTs a collect request to collect in binary mode, as its KafkaSource delivers a record.
async fn deliver(port: u16, event: &cloudevents::Event, data: &serde_json::Value) -> u16 {
    use cloudevents::AttributesReader;
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", event.id())
        .header("ce-type", event.ty())
        .header("ce-source", event.source().to_string())
        .header("content-type", "application/json")
        .body(data.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_publishes_the_request_and_collect_takes_it_over_http() {
    use cloudevents::AttributesReader;
    let db = TestDb::new(Backend::MariaDb).await;
    let yahoo = FakeYahoo::start().await;
    let market_time_s = recent_s();
    yahoo.set(
        "AMD",
        Reply::Price {
            price: 150.5,
            market_time_s,
        },
    );
    let requests = kafka::topic("collect-requests", 1).await;
    let quotes = kafka::topic("quotes", 1).await;
    let mut base = kafka::env();
    base.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "1".into()),
        ("TICKERMESH_QUOTES_TOPIC", quotes.clone()),
        ("TICKERMESH_ALERTS_TOPIC", kafka::topic("alerts", 1).await),
        ("TICKERMESH_COLLECT_REQUESTS_TOPIC", requests.clone()),
        ("TICKERMESH_YAHOO_BASE_URL", yahoo.base_url()),
        ("TICKERMESH_SIGNING_KEY", TEST_KEY.into()),
    ]);
    let spawn = |bin: &str, port: u16| {
        let mut env = base.clone();
        env.push(("PORT", port.to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Proc::spawn(bin, &env)
    };
    let (register_port, access_port, collect_port) = (free_port(), free_port(), free_port());
    let update_port = free_port();
    let _register = spawn("tickermesh-register", register_port);
    let _access = spawn("tickermesh-access", access_port);
    let _collect = spawn("tickermesh-collect", collect_port);
    let _update = spawn("tickermesh-update", update_port);
    healthy(register_port, "/metrics").await;
    healthy(access_port, "/metrics").await;
    healthy(collect_port, "/healthz").await;
    healthy(update_port, "/metrics").await;
    let client = |port: u16| async move {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        UserCommandsClient::new(channel)
    };
    let (mut register, mut access) = (client(register_port).await, client(access_port).await);
    let store = db.store().await;
    let mut sign_up = async |email: &str, ticker: &str, confirm: bool| {
        let request = RegisterUserRequest {
            email: email.into(),
            ticker: ticker.into(),
            ..Default::default()
        };
        register
            .register_user(keyed(request, &new_key()))
            .await
            .unwrap();
        if confirm {
            Some(tickermesh_tests::access::confirm(&mut access, &store, email).await)
        } else {
            None
        }
    };

    // ada registers NVDA and does not confirm (yet): no request. bob registers AMD and
    // confirms: the first request on the topic is AMD's, from access, keyed by ticker.
    sign_up("ada@example.com", "nvda", false).await;
    let bob = sign_up("bob@example.com", "amd", true).await.unwrap();
    let on_topic = reader(&requests);
    let (key, event) = next_event(&on_topic).await;
    assert_eq!(key, "AMD", "RegisterUser asked for nothing");
    assert_eq!(event.ty(), COLLECT_REQUESTED);
    assert_eq!(event.source().to_string(), "/tickermesh/access");
    let request = CollectRequested::from_event(&event).unwrap();
    assert_eq!(request.ticker, "AMD");

    // collect takes it as its KafkaSource delivers it: the quote fetched, stored, published.
    let data = serde_json::to_value(&request).unwrap();
    assert_eq!(deliver(collect_port, &event, &data).await, 202);
    assert_eq!(yahoo.requests(), 1);
    let price: f64 = sqlx::query_scalar("SELECT price FROM quotes WHERE ticker = 'AMD'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(price, 150.5);
    let (key, published) = next_event(&reader(&quotes)).await;
    let quote = QuoteCollected::from_event(&published).unwrap();
    assert_eq!(
        (key.as_str(), quote.price, quote.market_time_ms),
        ("AMD", 150.5, market_time_s * 1000)
    );
    // The same request again (a redelivery, a burst): answered from the fresh quote.
    assert_eq!(deliver(collect_port, &event, &data).await, 202);
    assert_eq!(yahoo.requests(), 1, "a fresh quote is not fetched again");
    // Bad requests are refused, not retried.
    for bad in [
        serde_json::json!({"ticker": "not a ticker!"}),
        serde_json::json!({"symbol": "AMD"}),
    ] {
        assert_eq!(deliver(collect_port, &event, &bad).await, 400, "{bad}");
    }
    // A ticker nobody watches is not fetched.
    let unwatched = serde_json::json!({"ticker": "TSLA"});
    assert_eq!(deliver(collect_port, &event, &unwatched).await, 202);
    assert_eq!(yahoo.requests(), 1, "TSLA is watched by nobody");

    // AMD has a quote now: carol's confirmation asks nothing. ada's asks for NVDA: the next
    // request on the topic (one partition, in order).
    sign_up("carol@example.com", "AMD", true).await;
    tickermesh_tests::access::confirm(&mut access, &store, "ada@example.com").await;
    let (key, event) = next_event(&on_topic).await;
    assert_eq!(key, "NVDA", "no request for AMD, which has a quote");
    assert_eq!(CollectRequested::from_event(&event).unwrap().ticker, "NVDA");

    // bob moves his watch from AMD to INTC through the update binary: it asks for INTC.
    let request = UpdateUserRequest {
        email: "bob@example.com".into(),
        ticker: Some("intc".into()),
        ..Default::default()
    };
    client(update_port)
        .await
        .update_user(bearer(request, &bob))
        .await
        .expect("UpdateUser through the update binary");
    let (key, event) = next_event(&on_topic).await;
    assert_eq!(key, "INTC");
    assert_eq!(event.source().to_string(), "/tickermesh/update");
    assert_eq!(CollectRequested::from_event(&event).unwrap().ticker, "INTC");
    store.close().await;
}
