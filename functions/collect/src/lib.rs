//! The collect function. A cron tick (a CloudEvent from Knative's PingSource) makes it fetch
//! the price of every watched ticker, store each fresh quote (the query function reads them)
//! and publish one `tickermesh.quote.collected` event per fresh quote.
//!
//! Quotes are their own outbox: a stored quote keeps `published_at_ms` NULL until its event is
//! handed to the broker, and every tick first sends what an earlier one could not.
//!
//! Beside the tick it takes collect requests (`tickermesh.collect.requested`): the first price
//! of a ticker someone just started watching, fetched at once ([`request`]).

pub mod breaker;
pub mod chart;
pub mod config;
pub mod market;
mod metrics;
pub mod request;

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use cloudevents::{AttributesReader, Event};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use tickermesh_core::events::collect_request::COLLECT_REQUESTED;
use tickermesh_core::events::{drain_outbox, Publisher};
use tickermesh_core::server::{metrics_router, Router};
use tickermesh_core::store::quotes::{self, Quote};
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Result};
use tokio::sync::Mutex;

pub use config::{CollectConfig, MarketKind};
pub use market::{Fetch, Market};
pub use request::{RequestHandler, Requested};

use crate::breaker::Breaker;
use crate::market::{SimMarket, Yahoo, YahooConfig};
use crate::metrics::METRICS;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickReport {
    pub tickers: usize,
    pub quotes: usize,
    /// Fresh quotes stored; a quote whose market time did not change is not stored again.
    pub stored: usize,
    pub not_found: usize,
    pub no_price: usize,
    /// Quotes refused for absurd values (see `tickermesh_core::events::checks`).
    #[serde(default)]
    pub invalid: usize,
    pub upstream_errors: usize,
    pub breaker_open: usize,
    pub published: usize,
    pub simulated: bool,
    /// True when the tick arrived while the previous one was still running.
    pub skipped: bool,
}

pub struct Collector {
    store: Store,
    market: Market,
    publisher: Arc<dyn Publisher>,
    topic: String,
    concurrency: usize,
    running: Mutex<()>,
    /// Tickers just fetched for a collect request.
    recent: request::Recent,
}

impl Collector {
    pub fn new(
        store: Store,
        config: &CollectConfig,
        publisher: Arc<dyn Publisher>,
    ) -> std::result::Result<Self, reqwest::Error> {
        metrics::init();
        let market = match config.market {
            MarketKind::Sim => Market::Sim(SimMarket),
            MarketKind::Yahoo => Market::Yahoo {
                client: Box::new(Yahoo::new(YahooConfig {
                    base_url: config.yahoo_base_url.clone(),
                    timeout: config.yahoo_timeout,
                    rate_limit: config.yahoo_rate_limit,
                })?),
                breaker: Breaker::new(config.breaker_failures, config.breaker_cooldown),
            },
        };
        Ok(Self {
            store,
            market,
            publisher,
            topic: config.quotes_topic.clone(),
            concurrency: config.concurrency,
            running: Mutex::new(()),
            recent: request::Recent::default(),
        })
    }

    /// One tick: fetch, store, publish. An error means the tick must be retried (the database
    /// or the broker is away); market failures are counted in the report instead.
    pub async fn collect(&self) -> Result<TickReport> {
        let Ok(_running) = self.running.try_lock() else {
            tracing::warn!("tick skipped: the previous one is still running");
            return Ok(TickReport {
                skipped: true,
                ..TickReport::default()
            });
        };
        let started = std::time::Instant::now();
        let result = self.collect_once().await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        METRICS.iterations.with_label_values(&[outcome]).inc();
        METRICS
            .iteration_duration
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        METRICS.last_iteration.set(now_unix_ms() as f64 / 1000.0);
        result
    }

    async fn collect_once(&self) -> Result<TickReport> {
        let simulated = self.market.is_simulated();
        let tickers = quotes::watched_tickers(self.store.pool(), now_unix_ms()).await?;
        // Symbols once unknown that are asked for again: a price means they are known now.
        let unknown: std::collections::HashSet<String> = quotes::unknown_symbols(self.store.pool())
            .await?
            .into_iter()
            .collect();
        let mut report = TickReport {
            tickers: tickers.len(),
            simulated,
            ..TickReport::default()
        };
        // First what an earlier tick stored but could not publish, so events keep their order.
        report.published = self.publish_pending().await?;
        // Results are stored (and published) as they arrive, while other requests are in flight.
        let mut fetched = stream::iter(tickers)
            .map(|ticker| async move {
                let fetch = self.market.fetch(&ticker).await;
                (ticker, fetch)
            })
            .buffer_unordered(self.concurrency);
        while let Some((ticker, fetch)) = fetched.next().await {
            let was_unknown = unknown.contains(&ticker);
            self.take(ticker, fetch, was_unknown, &mut report).await?;
        }
        tracing::info!(
            ?report,
            "tick handled{}",
            if simulated { " (simulated prices)" } else { "" }
        );
        Ok(report)
    }

    /// What one fetch of `ticker` gave, stored and published (a fresh quote), recorded (an
    /// unknown symbol) or counted. `was_unknown`: the market once said it does not know it.
    async fn take(
        &self,
        ticker: String,
        fetch: Fetch,
        was_unknown: bool,
        report: &mut TickReport,
    ) -> Result<()> {
        let collected_at_ms = now_unix_ms();
        match fetch {
            Fetch::Quote {
                price,
                currency,
                market_time_ms,
                previous_close,
            } => {
                report.quotes += 1;
                if was_unknown {
                    quotes::forget_unknown(self.store.pool(), &ticker).await?;
                }
                let quote = Quote {
                    ticker,
                    price,
                    currency,
                    market_time_ms,
                    collected_at_ms,
                    simulated: self.market.is_simulated(),
                    previous_close,
                };
                if quotes::insert(self.store.pool(), self.store.backend(), &quote).await? {
                    report.stored += 1;
                    METRICS.quotes_stored.inc();
                    self.publish(&quote).await?;
                    report.published += 1;
                }
            }
            Fetch::NotFound => {
                report.not_found += 1;
                tracing::info!(%ticker, "the market does not know this symbol");
                quotes::record_unknown(&self.store, &ticker, collected_at_ms).await?;
            }
            Fetch::NoPrice => report.no_price += 1,
            Fetch::Invalid(reason) => {
                report.invalid += 1;
                tracing::warn!(%ticker, %reason, "the market data service sent an absurd quote; refused");
            }
            Fetch::UpstreamError(reason) => {
                report.upstream_errors += 1;
                tracing::warn!(%ticker, %reason, "market data request failed");
            }
            Fetch::BreakerOpen => report.breaker_open += 1,
        }
        Ok(())
    }

    /// Publishes every stored quote whose event has not gone out, oldest first, marking each
    /// once the broker has it.
    pub async fn publish_pending(&self) -> Result<usize> {
        drain_outbox(
            || quotes::unpublished(self.store.pool(), 500),
            |batch| async move {
                for quote in batch {
                    self.publish(&quote).await?;
                }
                Ok(())
            },
        )
        .await
    }

    /// Hands one stored quote's event to the broker and marks the quote published.
    async fn publish(&self, quote: &Quote) -> Result<()> {
        let event = quote
            .to_event()
            .map_err(|e| tickermesh_core::Error::Internal(e.to_string()))?;
        self.publisher
            .publish(&self.topic, &quote.ticker, event)
            .await?;
        quotes::mark_published(self.store.pool(), quote, now_unix_ms()).await
    }
}

/// `POST /`: a collect request (`tickermesh.collect.requested`: 202, 400 when invalid, 503 when
/// it must be delivered again), else the tick: any other CloudEvent in binary or structured
/// mode (a malformed one is answered 400 by the extractor), 200 with the report when handled,
/// 503 when it must be retried.
async fn tick(State(collector): State<Arc<Collector>>, event: Event) -> axum::response::Response {
    if event.ty() == COLLECT_REQUESTED {
        return request::receive(collector, event).await;
    }
    tracing::debug!(ty = event.ty(), source = %event.source(), id = event.id(), "tick");
    match collector.collect().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST <path>`: the tick endpoint alone, collect requests included (the local mesh mounts it
/// at `/collect`).
pub fn tick_router(path: &str, collector: Arc<Collector>) -> Router {
    // The collect requests' series, at zero from the start.
    tickermesh_core::metrics::init_events("collect");
    Router::new().route(path, post(tick)).with_state(collector)
}

/// The function's HTTP surface: the tick on `POST /`, `/healthz` and `/metrics`.
pub fn router(collector: Arc<Collector>) -> Router {
    tick_router("/", collector)
        .route("/healthz", get(|| async { "ok" }))
        .merge(metrics_router())
}
