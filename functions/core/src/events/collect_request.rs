//! A first price at once. A ticker nobody has collected yet, once someone can see its price,
//! is asked of collect with a `tickermesh.collect.requested` event, so the queries answer seconds
//! later instead of at the next tick (up to a minute): at ConfirmEmail for the tickers of the
//! address just confirmed (its registration's), at AddWatch for the ticker added, at UpdateUser
//! for the ticker a watch moved to.
//!
//! Not at RegisterUser: an unconfirmed address can read no price (the queries need the token
//! ConfirmEmail gives) and is mailed no alert, so a price collected before the confirmation would
//! only use up the watch's edge (a threshold the price already breaches would alert, unmailed,
//! and never again while it stays outside), and anyone could make collect fetch any symbol by
//! registering addresses they never confirm.
//!
//! Best effort on both ends: the command has committed when it asks, so a failure to ask is
//! logged and counted, never an error of the command; the next tick collects the ticker anyway.
//! The command asks collect, never the market data service: every request to it still goes
//! through collect's rate limit and circuit breaker.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cloudevents::Event;
use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use super::{build, data_of, EventError, Publisher};
use crate::config::{var, ConfigError};
use crate::domain::Ticker;
use crate::error::{Error, Result};
use crate::store::Store;

pub const COLLECT_REQUESTED: &str = "tickermesh.collect.requested";
pub const DEFAULT_COLLECT_REQUESTS_TOPIC: &str = "collect-requests";

/// The most asking may add to the command's answer: a broker that does not take the event in
/// this time (it is away: the producer would wait seconds) costs the caller no more.
pub const ASK_WITHIN: Duration = Duration::from_secs(1);

/// `TICKERMESH_COLLECT_REQUESTS_TOPIC`: where the requests go (collect's KafkaSource reads it).
pub fn collect_requests_topic() -> std::result::Result<String, ConfigError> {
    var(
        "TICKERMESH_COLLECT_REQUESTS_TOPIC",
        DEFAULT_COLLECT_REQUESTS_TOPIC.to_owned(),
    )
}

/// Collect this ticker now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectRequested {
    pub ticker: String,
}

impl CollectRequested {
    /// `source`: the command function asking (`/tickermesh/access`, `/tickermesh/watch`,
    /// `/tickermesh/update`).
    pub fn to_event(&self, source: &str, now_ms: i64) -> std::result::Result<Event, EventError> {
        build(
            format!("collect-{}-{now_ms}", self.ticker),
            COLLECT_REQUESTED,
            source,
            &self.ticker,
            serde_json::to_value(self)?,
        )
    }

    pub fn from_event(event: &Event) -> std::result::Result<Self, EventError> {
        data_of(event, COLLECT_REQUESTED)
    }
}

/// What asking for a first price ended in; a label of `tickermesh_collect_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The event went to the broker.
    Requested,
    /// The ticker has a quote already, or the market said it does not know it.
    NotNeeded,
    /// The database or the broker failed; the next tick collects the ticker.
    Failed,
}

impl Asked {
    pub const ALL: [Self; 3] = [Self::Requested, Self::NotNeeded, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::NotNeeded => "not_needed",
            Self::Failed => "failed",
        }
    }
}

static ASKED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    crate::metrics::counter_vec(
        "tickermesh_collect_requests_total",
        "First prices asked of collect after a new watch, by outcome (requested, not_needed: \
         the ticker has a quote or is unknown to the market, failed: left to the next tick).",
        &["outcome"],
    )
});

/// Whether `ticker` still needs its first price: no quote of it is stored, and the market data
/// service has not said it does not know it. Two index lookups (the quotes' primary key, the
/// unknown symbols' key), one round trip.
pub async fn needs_first_price<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &str,
) -> Result<bool> {
    let known: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ( \
             SELECT ticker FROM (SELECT ticker FROM quotes WHERE ticker = ? LIMIT 1) q \
             UNION ALL SELECT ticker FROM unknown_symbols WHERE ticker = ? \
         ) known",
    )
    .bind(ticker)
    .bind(ticker)
    .fetch_one(ex)
    .await
    .map_err(|e| Error::db("look for a ticker's first quote", e))?;
    Ok(known == 0)
}

/// The tickers user `user_id` watches that still need their first price (as
/// [`needs_first_price`]).
pub async fn user_tickers_needing_first_price<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    user_id: i64,
) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT s.ticker FROM subscriptions s WHERE s.user_id = ? \
         AND NOT EXISTS (SELECT 1 FROM quotes q WHERE q.ticker = s.ticker) \
         AND NOT EXISTS (SELECT 1 FROM unknown_symbols u WHERE u.ticker = s.ticker) \
         ORDER BY s.id",
    )
    .bind(user_id)
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("look for a user's tickers without a quote", e))
}

/// Whether anyone watches `ticker`: collect fetches only tickers someone watches.
pub async fn is_watched<'e, E: Executor<'e, Database = Any>>(ex: E, ticker: &str) -> Result<bool> {
    let watched: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT ticker FROM subscriptions WHERE ticker = ? LIMIT 1) w",
    )
    .bind(ticker)
    .fetch_one(ex)
    .await
    .map_err(|e| Error::db("look for a watch of a ticker", e))?;
    Ok(watched > 0)
}

/// Asks collect for the first price of tickers that someone can now see (access, watch,
/// update).
pub struct CollectRequests {
    publisher: Arc<dyn Publisher>,
    topic: String,
}

impl CollectRequests {
    /// Exports the outcome counter at zero.
    pub fn new(publisher: Arc<dyn Publisher>, topic: &str) -> Self {
        for asked in Asked::ALL {
            ASKED.with_label_values(&[asked.as_str()]);
        }
        Self {
            publisher,
            topic: topic.to_owned(),
        }
    }

    /// Call after the commit that made `ticker` watched: asks collect for its first price
    /// unless it has one. Never fails the caller, and takes at most [`ASK_WITHIN`]: a failure
    /// is logged and counted.
    pub async fn first_price(&self, store: &Store, ticker: &Ticker, source: &str) -> Asked {
        let asked = match tokio::time::timeout(ASK_WITHIN, self.ask(store, ticker, source)).await {
            Ok(Ok(asked)) => asked,
            Ok(Err(e)) => {
                tracing::warn!(%ticker, error = %e, "cannot ask collect for a first price; the next tick collects it");
                Asked::Failed
            }
            Err(_) => {
                tracing::warn!(%ticker, "asking collect for a first price took too long; the next tick collects it");
                Asked::Failed
            }
        };
        ASKED.with_label_values(&[asked.as_str()]).inc();
        asked
    }

    /// Call after the commit that confirmed user `user_id`: asks collect for the first price
    /// of each of its tickers that has none. Never fails the caller, and takes at most
    /// [`ASK_WITHIN`] in all; returns how many were asked for.
    pub async fn for_user(&self, store: &Store, user_id: i64, source: &str) -> usize {
        let asked = tokio::time::timeout(ASK_WITHIN, async {
            let tickers = user_tickers_needing_first_price(store.pool(), user_id).await?;
            for ticker in &tickers {
                self.publish(ticker, source).await?;
                ASKED.with_label_values(&[Asked::Requested.as_str()]).inc();
            }
            Ok::<_, Error>(tickers.len())
        })
        .await;
        let outcome = match asked {
            // Each request was counted as it went.
            Ok(Ok(n)) if n > 0 => return n,
            Ok(Ok(_)) => Asked::NotNeeded,
            Ok(Err(e)) => {
                tracing::warn!(user_id, error = %e, "cannot ask collect for first prices; the next tick collects them");
                Asked::Failed
            }
            Err(_) => {
                tracing::warn!(
                    user_id,
                    "asking collect for first prices took too long; the next tick collects them"
                );
                Asked::Failed
            }
        };
        ASKED.with_label_values(&[outcome.as_str()]).inc();
        0
    }

    async fn ask(&self, store: &Store, ticker: &Ticker, source: &str) -> Result<Asked> {
        if !needs_first_price(store.pool(), ticker.as_str()).await? {
            return Ok(Asked::NotNeeded);
        }
        self.publish(ticker.as_str(), source).await?;
        Ok(Asked::Requested)
    }

    async fn publish(&self, ticker: &str, source: &str) -> Result<()> {
        let request = CollectRequested {
            ticker: ticker.to_owned(),
        };
        let event = request
            .to_event(source, crate::now_unix_ms())
            .map_err(|e| Error::Internal(format!("cannot build an event: {e}")))?;
        self.publisher.publish(&self.topic, ticker, event).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};

    use super::*;

    #[test]
    fn a_request_round_trips_and_names_its_ticker() {
        let request = CollectRequested {
            ticker: "NVDA".into(),
        };
        let event = request.to_event("/tickermesh/watch", 1_700).unwrap();
        assert_eq!(event.ty(), COLLECT_REQUESTED);
        assert_eq!(event.id(), "collect-NVDA-1700");
        assert_eq!(event.subject(), Some("NVDA"));
        assert_eq!(event.source().to_string(), "/tickermesh/watch");
        assert_eq!(CollectRequested::from_event(&event).unwrap(), request);
    }

    #[test]
    fn other_events_and_bad_data_are_refused() {
        let tick = EventBuilderV10::new()
            .id("1")
            .ty(super::super::PING)
            .source("/ping")
            .build()
            .unwrap();
        assert!(matches!(
            CollectRequested::from_event(&tick),
            Err(EventError::Type(_))
        ));
        for data in [serde_json::json!({"ticker": 5}), serde_json::json!({})] {
            let bad = EventBuilderV10::new()
                .id("2")
                .ty(COLLECT_REQUESTED)
                .source("/x")
                .data("application/json", data)
                .build()
                .unwrap();
            assert!(matches!(
                CollectRequested::from_event(&bad),
                Err(EventError::Data(_))
            ));
        }
    }

    #[test]
    fn outcomes_are_fixed_labels() {
        let labels: Vec<&str> = Asked::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(labels, ["requested", "not_needed", "failed"]);
    }
}
