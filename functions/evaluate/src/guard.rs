//! What evaluate takes from an event, inside the cluster too: a quote event from the
//! collector's source only, naming a quote that was collected, whose values are sane alone
//! and against the ticker's previous prices. Anything else is refused (400 over HTTP,
//! skipped on Kafka) and counted by reason. A previous close that is no sane reference for
//! the price is dropped (the quote still counts for thresholds) and logged.

use std::sync::LazyLock;

use cloudevents::{AttributesReader, Event};
use prometheus::IntCounterVec;
use tickermesh_core::config::{var, ConfigError};
use tickermesh_core::events::checks::{
    check_jump, check_quote, check_reference, COLLECTOR_SOURCE, MAX_JUMP,
};
use tickermesh_core::events::{HandleError, QuoteCollected};
use tickermesh_core::store::{evaluation, quotes, Store};

static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_quotes_refused_total",
        "Quote events evaluate refused, by reason: from another source than the collector, \
         naming no collected quote, with absurd values, or a price jump against the \
         ticker's previous prices.",
        &["reason"],
    )
});

/// Why a quote event was refused: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Source,
    NotCollected,
    Absurd,
    Jump,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [Self::Source, Self::NotCollected, Self::Absurd, Self::Jump];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::NotCollected => "not_collected",
            Self::Absurd => "absurd",
            Self::Jump => "jump",
        }
    }
}

pub(crate) fn export_metrics() {
    let reasons: Vec<&str> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
    tickermesh_core::metrics::export_at_zero(&REFUSED, &reasons);
}

fn refused(reason: Refusal, detail: &str) -> HandleError {
    REFUSED.with_label_values(&[reason.as_str()]).inc();
    HandleError::Invalid(format!("quote refused ({}): {detail}", reason.as_str()))
}

/// The checks, with their settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteGuard {
    /// CloudEvent sources taken (`TICKERMESH_QUOTE_SOURCES`): the collector's by default.
    pub sources: Vec<String>,
    /// How many times higher or lower than the prices it follows a price may be
    /// (`TICKERMESH_QUOTE_MAX_JUMP`).
    pub max_jump: f64,
}

impl Default for QuoteGuard {
    fn default() -> Self {
        Self {
            sources: vec![COLLECTOR_SOURCE.to_owned()],
            max_jump: MAX_JUMP,
        }
    }
}

impl QuoteGuard {
    /// The stored quote `named` names, if the event may be evaluated.
    pub async fn admit(
        &self,
        store: &Store,
        event: &Event,
        named: &QuoteCollected,
        now_ms: i64,
    ) -> Result<QuoteCollected, HandleError> {
        let source = event.source().as_str();
        if !self.sources.iter().any(|s| s == source) {
            let shown: String = source.chars().take(64).collect();
            return Err(refused(Refusal::Source, &format!("source {shown:?}")));
        }
        let pool = store.pool();
        let Some(stored) = quotes::find(pool, &named.ticker, named.market_time_ms).await? else {
            return Err(refused(
                Refusal::NotCollected,
                "no such quote was collected",
            ));
        };
        check_quote(
            stored.price,
            &stored.currency,
            stored.market_time_ms,
            now_ms,
        )
        .map_err(|e| refused(Refusal::Absurd, &e.to_string()))?;
        let (previous, last_evaluated) =
            evaluation::reference_prices(pool, &stored.ticker, stored.market_time_ms).await?;
        check_jump(stored.price, previous, last_evaluated, self.max_jump)
            .map_err(|e| refused(Refusal::Jump, &e.to_string()))?;
        let reference = check_reference(stored.price, stored.previous_close, self.max_jump);
        if reference.is_none() && stored.previous_close.is_some() {
            tracing::warn!(ticker = %stored.ticker, previous_close = ?stored.previous_close,
                "a previous close that is no reference for the price; no move alerts");
        }
        Ok(QuoteCollected {
            previous_close: reference,
            ..stored
        })
    }
}

impl QuoteGuard {
    /// From `TICKERMESH_QUOTE_SOURCES` (comma-separated; the collector's by default) and
    /// `TICKERMESH_QUOTE_MAX_JUMP` (greater than 1; 10 by default).
    pub fn from_env() -> Result<Self, ConfigError> {
        let sources: String = var("TICKERMESH_QUOTE_SOURCES", COLLECTOR_SOURCE.to_owned())?;
        let max_jump: f64 = var("TICKERMESH_QUOTE_MAX_JUMP", MAX_JUMP)?;
        let sources = parse_sources(&sources).map_err(|reason| ConfigError {
            var: "TICKERMESH_QUOTE_SOURCES".into(),
            reason,
        })?;
        if !(max_jump.is_finite() && max_jump > 1.0) {
            return Err(ConfigError {
                var: "TICKERMESH_QUOTE_MAX_JUMP".into(),
                reason: format!("must be a number greater than 1 (got {max_jump})"),
            });
        }
        Ok(Self { sources, max_jump })
    }
}

/// A comma-separated list of sources: blanks around each are dropped, none may be empty.
fn parse_sources(raw: &str) -> Result<Vec<String>, String> {
    let sources: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).collect();
    if sources.iter().any(String::is_empty) {
        return Err(format!("an empty source in {raw:?}"));
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_table() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("/tickermesh/collect", Some(&["/tickermesh/collect"])),
            (" /a , /b ", Some(&["/a", "/b"])),
            ("/a,,/b", None),
            ("/a,", None),
        ];
        for &(raw, expected) in cases {
            let got = parse_sources(raw).ok();
            let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, expected, "{raw:?}");
        }
    }

    #[test]
    fn reasons_are_a_fixed_set() {
        let names: Vec<&str> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["source", "not_collected", "absurd", "jump"]);
    }
}
