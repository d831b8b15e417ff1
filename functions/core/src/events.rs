//! The events of the pipeline, as CloudEvents 1.0 with JSON data, and where they go.
//!
//! `collect` emits [`QuoteCollected`] to the quotes topic (key: ticker); `evaluate` emits
//! [`ThresholdCrossed`] to the alerts topic (key: e-mail). Both travel over Kafka (binary
//! mode, `ce_` headers) in the cluster, or over an in-process bus in `tickermesh up`.

mod bus;
pub mod checks;
pub mod collect_request;
pub mod commits;
mod digest;
pub(crate) mod handler;
pub mod keyed;

use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use bus::{ChannelBus, PublishError, Publisher};
pub use digest::{DigestDue, DIGEST_DUE};
pub use handler::{
    consume_channel, event_router, handle_counted, handle_until_done, redelivery_delays, Done,
    EventHandler, HandleError,
};

pub const QUOTE_COLLECTED: &str = "tickermesh.quote.collected";
pub const THRESHOLD_CROSSED: &str = "tickermesh.threshold.crossed";
/// An access code to e-mail; travels on the alerts topic, to notify.
pub const ACCESS_CODE: &str = "tickermesh.access.code";
/// The type Knative's PingSource gives its ticks.
pub const PING: &str = "dev.knative.sources.ping";

pub const DEFAULT_QUOTES_TOPIC: &str = "ticker-quotes";
pub const DEFAULT_ALERTS_TOPIC: &str = "threshold-alerts";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteCollected {
    pub ticker: String,
    pub price: f64,
    pub currency: String,
    pub market_time_ms: i64,
    pub collected_at_ms: i64,
    /// True when the price comes from the simulated market, never from an exchange.
    #[serde(default)]
    pub simulated: bool,
    /// The previous session's close, as the market gave it: the reference of percent-move
    /// rules. Absent in events from before it was collected, and when the market had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The price rose above the upper threshold.
    Above,
    /// The price fell below the lower threshold.
    Below,
    /// The price rose from the previous close by the watch's move percent or more.
    Up,
    /// The price fell from the previous close by the watch's move percent or more.
    Down,
}

impl Direction {
    pub const ALL: [Direction; 4] = [Self::Above, Self::Below, Self::Up, Self::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Above => "above",
            Self::Below => "below",
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// The direction `as_str` writes, `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// A percent move from the previous close, not a price threshold.
    pub fn is_move(self) -> bool {
        matches!(self, Self::Up | Self::Down)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCrossed {
    /// Derived from (subscription, ticker, crossing): the same crossing always has this id.
    pub alert_id: String,
    pub email: String,
    pub ticker: String,
    pub price: f64,
    pub currency: String,
    /// The price threshold crossed; for a move (`up`, `down`), the watch's move percent.
    pub threshold: f64,
    pub direction: Direction,
    pub market_time_ms: i64,
    #[serde(default)]
    pub simulated: bool,
    /// The subscription that alerted (absent in alerts stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<i64>,
    /// What a move is measured from: the previous close. `None` for a price threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<f64>,
}

/// An access code's e-mail is due. It names the code only: notify reads the address from the
/// database and derives the code with the signing key, so neither the address nor the code is
/// kept in the broker's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessCodeRequested {
    pub user_id: i64,
    pub nonce: String,
}

/// Empties an outbox: `load` returns a batch of unpublished records (empty when done), and
/// `publish` hands a batch to the broker and marks it published. Returns how many went out;
/// stops at the first failure, leaving the rest for the next call.
pub async fn drain_outbox<T, L, LF, P, PF>(mut load: L, mut publish: P) -> crate::Result<usize>
where
    L: FnMut() -> LF,
    LF: std::future::Future<Output = crate::Result<Vec<T>>>,
    P: FnMut(Vec<T>) -> PF,
    PF: std::future::Future<Output = crate::Result<()>>,
{
    let mut published = 0;
    loop {
        let batch = load().await?;
        if batch.is_empty() {
            return Ok(published);
        }
        let n = batch.len();
        publish(batch).await?;
        published += n;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unexpected event type {0:?}")]
    Type(String),
    #[error("event has no data")]
    NoData,
    #[error("event data is not valid: {0}")]
    Data(#[from] serde_json::Error),
    #[error("cannot build event: {0}")]
    Build(String),
}

fn build(
    id: String,
    ty: &str,
    source: &str,
    subject: &str,
    data: serde_json::Value,
) -> Result<Event, EventError> {
    EventBuilderV10::new()
        .id(id)
        .ty(ty)
        .source(source)
        .subject(subject)
        .time(humantime_rfc3339(crate::now_unix_ms()))
        .data("application/json", data)
        .build()
        .map_err(|e| EventError::Build(e.to_string()))
}

/// The last instant RFC 3339 can write (9999-12-31T23:59:59.999Z).
const RFC3339_MAX_MS: i64 = 253_402_300_799_999;

/// RFC 3339 UTC with milliseconds, as CloudEvents' `time` wants it. A time RFC 3339 cannot
/// write (before 1970 here, after year 9999) is written as milliseconds since the epoch
/// instead: formatting never fails, whatever a timestamp from outside says.
pub fn humantime_rfc3339(unix_ms: i64) -> String {
    match u64::try_from(unix_ms) {
        Ok(ms) if unix_ms <= RFC3339_MAX_MS => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_millis(at).to_string()
        }
        _ => format!("{unix_ms} ms since 1970-01-01T00:00:00Z"),
    }
}

impl QuoteCollected {
    /// One event per fresh quote; the id names the quote, so a re-sent one is recognisable.
    pub fn to_event(&self) -> Result<Event, EventError> {
        build(
            format!("{}@{}", self.ticker, self.market_time_ms),
            QUOTE_COLLECTED,
            "/tickermesh/collect",
            &self.ticker,
            serde_json::to_value(self)?,
        )
    }

    pub fn from_event(event: &Event) -> Result<Self, EventError> {
        data_of(event, QUOTE_COLLECTED)
    }
}

impl ThresholdCrossed {
    pub fn to_event(&self) -> Result<Event, EventError> {
        build(
            self.alert_id.clone(),
            THRESHOLD_CROSSED,
            "/tickermesh/evaluate",
            &self.ticker,
            serde_json::to_value(self)?,
        )
    }

    pub fn from_event(event: &Event) -> Result<Self, EventError> {
        data_of(event, THRESHOLD_CROSSED)
    }
}

impl AccessCodeRequested {
    pub fn to_event(&self) -> Result<Event, EventError> {
        build(
            format!("code-{}-{}", self.user_id, self.nonce),
            ACCESS_CODE,
            "/tickermesh/access",
            &self.user_id.to_string(),
            serde_json::to_value(self)?,
        )
    }

    pub fn from_event(event: &Event) -> Result<Self, EventError> {
        data_of(event, ACCESS_CODE)
    }
}

fn data_of<T: DeserializeOwned>(event: &Event, ty: &str) -> Result<T, EventError> {
    if event.ty() != ty {
        return Err(EventError::Type(event.ty().to_owned()));
    }
    match event.data() {
        Some(Data::Json(v)) => Ok(serde_json::from_value(v.clone())?),
        Some(Data::Binary(b)) => Ok(serde_json::from_slice(b)?),
        Some(Data::String(s)) => Ok(serde_json::from_str(s)?),
        None => Err(EventError::NoData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote() -> QuoteCollected {
        QuoteCollected {
            ticker: "AAPL".into(),
            price: 189.5,
            currency: "USD".into(),
            market_time_ms: 1_700_000_000_000,
            collected_at_ms: 1_700_000_000_500,
            simulated: false,
            previous_close: Some(180.25),
        }
    }

    #[test]
    fn quote_round_trip() {
        let q = quote();
        let event = q.to_event().unwrap();
        assert_eq!(event.ty(), QUOTE_COLLECTED);
        assert_eq!(event.id(), "AAPL@1700000000000");
        assert_eq!(event.subject(), Some("AAPL"));
        assert_eq!(QuoteCollected::from_event(&event).unwrap(), q);
    }

    #[test]
    fn events_from_before_the_previous_close_still_parse() {
        let old = serde_json::json!({"ticker": "AAPL", "price": 1.5, "currency": "USD",
            "market_time_ms": 1, "collected_at_ms": 2, "simulated": false});
        let q: QuoteCollected = serde_json::from_value(old).unwrap();
        assert_eq!(q.previous_close, None);
        let json = serde_json::to_value(quote()).unwrap();
        assert_eq!(json["previous_close"], 180.25);
        let old = serde_json::json!({"alert_id": "a", "email": "x@example.com",
            "ticker": "AAPL", "price": 1.5, "currency": "USD", "threshold": 1.0,
            "direction": "below", "market_time_ms": 1});
        let a: ThresholdCrossed = serde_json::from_value(old).unwrap();
        assert_eq!((a.subscription_id, a.reference), (None, None));
    }

    #[test]
    fn directions_round_trip() {
        for d in Direction::ALL {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
            let json = serde_json::to_value(d).unwrap();
            assert_eq!(json, d.as_str());
        }
        assert_eq!(Direction::parse("sideways"), None);
        assert!(Direction::Up.is_move() && Direction::Down.is_move());
        assert!(!Direction::Above.is_move() && !Direction::Below.is_move());
    }

    #[test]
    fn wrong_type_or_bad_data_is_an_error() {
        let event = quote().to_event().unwrap();
        assert!(matches!(
            ThresholdCrossed::from_event(&event),
            Err(EventError::Type(_))
        ));
        let bad = EventBuilderV10::new()
            .id("1")
            .ty(QUOTE_COLLECTED)
            .source("/x")
            .data("application/json", serde_json::json!({"ticker": 5}))
            .build()
            .unwrap();
        assert!(matches!(
            QuoteCollected::from_event(&bad),
            Err(EventError::Data(_))
        ));
    }

    #[test]
    fn any_time_formats_without_panicking() {
        assert_eq!(humantime_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            humantime_rfc3339(RFC3339_MAX_MS),
            "9999-12-31T23:59:59.999Z"
        );
        for t in [RFC3339_MAX_MS + 1, i64::MAX, -1, i64::MIN] {
            assert!(humantime_rfc3339(t).contains("ms since"), "{t}");
        }
    }

    #[test]
    fn alert_round_trip() {
        let a = ThresholdCrossed {
            alert_id: "a1".into(),
            email: "x@example.com".into(),
            ticker: "AAPL".into(),
            price: 300.0,
            currency: "USD".into(),
            threshold: 250.0,
            direction: Direction::Up,
            market_time_ms: 1,
            simulated: true,
            subscription_id: Some(7),
            reference: Some(285.0),
        };
        let event = a.to_event().unwrap();
        assert_eq!(event.id(), "a1");
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["direction"], "up");
        assert_eq!(json["subscription_id"], 7);
        assert_eq!(ThresholdCrossed::from_event(&event).unwrap(), a);
    }
}
