//! The settings of a `tickermesh up` under test: the test database, a fake Yahoo, e-mail to an
//! outbox folder, the test signing key and access settings, collect only when a test ticks.

use std::path::Path;
use std::time::Duration;

use tickermesh::up::UpConfig;
use tickermesh_collect::{CollectConfig, MarketKind};
use tickermesh_core::config::{DatabaseConfig, ServiceConfig};
use tickermesh_notify::{MailConfig, MailSettings};
use tickermesh_query::QueryConfig;

use crate::access::{test_key, test_settings};
use crate::yahoo::FakeYahoo;
use crate::TestDb;

pub fn config(db: &TestDb, dir: &Path, yahoo: &FakeYahoo) -> UpConfig {
    UpConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.to_owned(),
        service: ServiceConfig {
            idempotency_ttl: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(1),
            ..ServiceConfig::new(DatabaseConfig::url(&db.url))
        },
        query: QueryConfig {
            cache_ttl: Duration::ZERO,
        },
        collect: CollectConfig {
            market: MarketKind::Yahoo,
            yahoo_base_url: yahoo.base_url().parse().expect("fake Yahoo URL"),
            yahoo_timeout: Duration::from_secs(2),
            yahoo_rate_limit: std::num::NonZeroU32::new(10_000).expect("non-zero"),
            concurrency: 4,
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(30),
            quotes_topic: "ticker-quotes".into(),
        },
        collect_interval: Duration::from_secs(3600),
        alerts_topic: "threshold-alerts".into(),
        mail: MailSettings {
            transport: MailConfig::Outbox(dir.join("outbox")),
            from: "tickermesh <alerts@example.com>".parse().expect("from"),
            retry: Default::default(),
            concurrency: tickermesh_notify::DEFAULT_MAIL_CONCURRENCY,
            lease: tickermesh_notify::DEFAULT_MAIL_LEASE,
        },
        kafka: None,
        access: test_settings(),
        signing: Some(test_key()),
        // Anything else as `tickermesh up` reads it (an empty test environment: its defaults).
        ..UpConfig::from_env("127.0.0.1:0".parse().expect("addr"), dir.to_owned())
            .expect("up config")
    }
}
