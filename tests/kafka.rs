//! Kafka transport on the real broker: CloudEvents in binary mode through cloudevents-sdk's
//! rdkafka binding; the consumer hands events over in order, skips and counts a poison record,
//! and goes on with the next good one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudevents::{AttributesReader, Event};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tickermesh_core::events::{EventHandler, HandleError, Publisher, QuoteCollected};
use tickermesh_core::kafka::{consume, KafkaPublisher};
use tickermesh_tests::{eventually, kafka};

struct Recorder {
    seen: Mutex<Vec<QuoteCollected>>,
}

#[async_trait::async_trait]
impl EventHandler for Recorder {
    fn name(&self) -> &'static str {
        "kafka-test"
    }

    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        let quote =
            QuoteCollected::from_event(event).map_err(|e| HandleError::Invalid(e.to_string()))?;
        self.seen.lock().unwrap().push(quote);
        Ok(())
    }
}

fn quote(ticker: &str, t: i64) -> QuoteCollected {
    QuoteCollected {
        ticker: ticker.into(),
        price: 10.0 + t as f64,
        currency: "USD".into(),
        market_time_ms: t,
        collected_at_ms: t,
        simulated: false,
        previous_close: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_round_trip_and_poison_records_are_skipped() {
    let settings = kafka::settings();
    let topic = kafka::topic("quotes", 1).await;
    let publisher = KafkaPublisher::new(&settings).unwrap();
    publisher
        .publish(&topic, "AAPL", quote("AAPL", 1).to_event().unwrap())
        .await
        .unwrap();
    publisher
        .publish(&topic, "AAPL", quote("AAPL", 2).to_event().unwrap())
        .await
        .unwrap();
    // A poison record: no CloudEvent headers, not JSON.
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .create()
        .unwrap();
    raw.send(
        FutureRecord::<str, [u8]>::to(&topic)
            .key("x")
            .payload(b"\x00garbage"),
        Timeout::After(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    // Valid CloudEvent, wrong data: handled as invalid, skipped.
    let mut wrong = quote("BAD", 3).to_event().unwrap();
    wrong.set_data("application/json", serde_json::json!({"ticker": 7}));
    publisher.publish(&topic, "BAD", wrong).await.unwrap();
    publisher
        .publish(&topic, "MSFT", quote("MSFT", 4).to_event().unwrap())
        .await
        .unwrap();

    let recorder = Arc::new(Recorder {
        seen: Mutex::new(Vec::new()),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let group = format!("{topic}-group");
    let consumer = {
        let recorder = recorder.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            consume(&settings, &group, &topic, recorder, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let seen = eventually(Duration::from_secs(30), "three good events", || async {
        let seen = recorder.seen.lock().unwrap().clone();
        (seen.len() >= 3).then_some(seen)
    })
    .await;
    let times: Vec<i64> = seen.iter().map(|q| q.market_time_ms).collect();
    assert_eq!(times, vec![1, 2, 4], "in order, the poison ones skipped");
    let _ = stop.send(());
    consumer.await.unwrap().unwrap();

    let metrics = tickermesh_core::metrics::render();
    assert!(
        metrics.contains("tickermesh_events_total{function=\"kafka-test\",outcome=\"invalid\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("tickermesh_events_total{function=\"kafka-test\",outcome=\"ok\"} 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_carry_cloudevent_headers_in_binary_mode() {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::{Headers, Message};
    let topic = kafka::topic("binary", 1).await;
    KafkaPublisher::new(&kafka::settings())
        .unwrap()
        .publish(&topic, "AAPL", quote("AAPL", 9).to_event().unwrap())
        .await
        .unwrap();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .set("group.id", format!("{topic}-g"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record")
        .unwrap();
    assert_eq!(message.key(), Some(&b"AAPL"[..]), "keyed by ticker");
    let headers = message.headers().expect("headers");
    let names: Vec<String> = headers.iter().map(|h| h.key.to_owned()).collect();
    for h in ["ce_specversion", "ce_id", "ce_type", "ce_source"] {
        assert!(names.iter().any(|n| n == h), "{h} missing from {names:?}");
    }
    let event = cloudevents::binding::rdkafka::MessageExt::to_event(&message).unwrap();
    assert_eq!(event.ty(), "tickermesh.quote.collected");
    assert_eq!(event.id(), "AAPL@9");
}

/// Takes one event at a time, each only when the test lets it through.
struct Gated {
    gate: tokio::sync::Semaphore,
    handled: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl EventHandler for Gated {
    fn name(&self) -> &'static str {
        "lag-test"
    }

    async fn handle(&self, _event: &Event) -> Result<(), HandleError> {
        // The semaphore is never closed.
        let permit = self.gate.acquire().await.unwrap();
        permit.forget();
        self.handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

fn lag_metric(topic: &str) -> Option<i64> {
    let line =
        format!("tickermesh_consumer_lag_messages{{function=\"lag-test\",topic=\"{topic}\"}} ");
    tickermesh_core::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(&line).and_then(|v| v.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_exports_the_lag_it_sees() {
    let settings = kafka::settings();
    let topic = kafka::topic("lag", 2).await;
    let publisher = KafkaPublisher::new(&settings).unwrap();
    for t in 0..10 {
        let ticker = if t % 2 == 0 { "AAPL" } else { "MSFT" };
        publisher
            .publish(&topic, ticker, quote(ticker, t).to_event().unwrap())
            .await
            .unwrap();
    }
    let gated = Arc::new(Gated {
        gate: tokio::sync::Semaphore::new(1),
        handled: Default::default(),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = {
        let (gated, topic) = (gated.clone(), topic.clone());
        let group = format!("{topic}-group");
        tokio::spawn(async move {
            consume(&settings, &group, &topic, gated, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    // One event handled and committed, the other nine wait: the consumer sees them as lag.
    eventually(Duration::from_secs(30), "a lag of 9", || async {
        (lag_metric(&topic) == Some(9)).then_some(())
    })
    .await;
    gated.gate.add_permits(9);
    eventually(
        Duration::from_secs(30),
        "no lag once all are handled",
        || async {
            let done = gated.handled.load(std::sync::atomic::Ordering::SeqCst) == 10;
            (done && lag_metric(&topic) == Some(0)).then_some(())
        },
    )
    .await;
    let _ = stop.send(());
    consumer.await.unwrap().unwrap();
}

/// Takes up to four events at once; the event at market time `stuck` must be retried until
/// the test lets it through.
struct Stuck {
    stuck: i64,
    release: std::sync::atomic::AtomicBool,
    handled: Mutex<Vec<i64>>,
}

#[async_trait::async_trait]
impl EventHandler for Stuck {
    fn name(&self) -> &'static str {
        "concurrency-test"
    }

    async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        let quote =
            QuoteCollected::from_event(event).map_err(|e| HandleError::Invalid(e.to_string()))?;
        let released = self.release.load(std::sync::atomic::Ordering::SeqCst);
        if quote.market_time_ms == self.stuck && !released {
            return Err(tickermesh_core::Error::Aborted("not yet".into()).into());
        }
        self.handled.lock().unwrap().push(quote.market_time_ms);
        Ok(())
    }

    fn concurrency(&self) -> usize {
        4
    }
}

/// The group's committed offset of partition 0 of `topic`, as another client reads it.
fn committed(topic: &str, group: &str) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, 0);
    let offsets = reader
        .committed_offsets(list, Duration::from_secs(10))
        .ok()?;
    match offsets.find_partition(topic, 0)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// With several events in flight, one that must be retried holds neither the others nor its
/// own place: the rest are handled meanwhile, and the committed offset stops just before it
/// until it is handled (a crash then redelivers it, never loses it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_event_holds_the_commit_not_the_others() {
    let settings = kafka::settings();
    let topic = kafka::topic("concurrent", 1).await;
    let publisher = KafkaPublisher::new(&settings).unwrap();
    for t in 0..10 {
        publisher
            .publish(&topic, "AAPL", quote("AAPL", t).to_event().unwrap())
            .await
            .unwrap();
    }
    let handler = Arc::new(Stuck {
        stuck: 2,
        release: Default::default(),
        handled: Mutex::new(Vec::new()),
    });
    let group = format!("{topic}-group");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = {
        let (handler, topic, group) = (handler.clone(), topic.clone(), group.clone());
        tokio::spawn(async move {
            consume(&settings, &group, &topic, handler, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    eventually(
        Duration::from_secs(30),
        "the nine others handled",
        || async { (handler.handled.lock().unwrap().len() == 9).then_some(()) },
    )
    .await;
    assert!(!handler.handled.lock().unwrap().contains(&2));
    // Offsets 0 and 1 are handled, 2 is not: the group may say 2, never more.
    eventually(Duration::from_secs(30), "offset 2 committed", || async {
        (committed(&topic, &group) == Some(2)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        committed(&topic, &group),
        Some(2),
        "nothing past the retried event"
    );

    handler
        .release
        .store(true, std::sync::atomic::Ordering::SeqCst);
    eventually(Duration::from_secs(30), "offset 10 committed", || async {
        (committed(&topic, &group) == Some(10)).then_some(())
    })
    .await;
    let mut handled = handler.handled.lock().unwrap().clone();
    handled.sort_unstable();
    assert_eq!(handled, (0..10).collect::<Vec<_>>(), "each once");
    let _ = stop.send(());
    consumer.await.unwrap().unwrap();
}
