//! The Kafka-protocol broker the tests use: `TICKERMESH_TEST_KAFKA_BROKERS` (default
//! `127.0.0.1:9092`, the tansu broker that tests/tools.sh starts). Tests that need it fail
//! when it is missing.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use tickermesh_core::kafka::KafkaSettings;

pub fn brokers() -> String {
    std::env::var("TICKERMESH_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Settings tuned for the test broker: a group join waits session.timeout.ms/2, and a waiting
/// fetch is not woken early, so both are short here (test settings, not production defaults).
pub fn settings() -> KafkaSettings {
    KafkaSettings {
        brokers: brokers(),
        properties: vec![
            ("session.timeout.ms".into(), "6000".into()),
            ("fetch.wait.max.ms".into(), "10".into()),
        ],
        sasl_password: None,
        lag_interval: Duration::from_millis(200),
    }
}

/// The same settings as environment variables for a function process.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("TICKERMESH_KAFKA_BROKERS", brokers()),
        ("TICKERMESH_KAFKA_SESSION_TIMEOUT_MS", "6000".into()),
        ("TICKERMESH_KAFKA_FETCH_WAIT_MS", "10".into()),
    ]
}

/// A fresh topic name, created with `partitions` partitions.
pub async fn topic(prefix: &str, partitions: i32) -> String {
    let name = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the Kafka broker at {} is required and did not answer: {e}",
                brokers()
            )
        });
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
    name
}
