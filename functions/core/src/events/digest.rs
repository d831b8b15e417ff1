//! `tickermesh.digest.due`: a user's alerts held during their quiet hours are due as one
//! digest e-mail. The digest function publishes one per user on the alerts topic (key: the
//! e-mail) and notify mails it. The event's `time` says as of when the alerts are due: notify
//! mails those held until then, so a digest published late, or repeated, mails nothing twice
//! and nothing early.

use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde::{Deserialize, Serialize};

use super::{data_of, humantime_rfc3339, EventError};

pub const DIGEST_DUE: &str = "tickermesh.digest.due";

/// The digest of one user is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestDue {
    pub email: String,
}

impl DigestDue {
    /// The event, due as of `as_of_ms` (its `time`).
    pub fn to_event(&self, as_of_ms: i64) -> Result<Event, EventError> {
        EventBuilderV10::new()
            .id(format!("digest/{}/{as_of_ms}", self.email))
            .ty(DIGEST_DUE)
            .source("/tickermesh/digest")
            .subject(self.email.as_str())
            .time(humantime_rfc3339(as_of_ms))
            .data("application/json", serde_json::to_value(self)?)
            .build()
            .map_err(|e| EventError::Build(e.to_string()))
    }

    /// The named user and as of when (the event's `time`, or `now_ms` without one).
    pub fn from_event(event: &Event, now_ms: i64) -> Result<(Self, i64), EventError> {
        let due: Self = data_of(event, DIGEST_DUE)?;
        let as_of = event.time().map_or(now_ms, |t| t.timestamp_millis());
        Ok((due, as_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_its_time() {
        let due = DigestDue {
            email: "ada@example.com".into(),
        };
        let event = due.to_event(1_700_000_000_000).unwrap();
        assert_eq!(event.ty(), DIGEST_DUE);
        assert_eq!(event.subject(), Some("ada@example.com"));
        let (back, as_of) = DigestDue::from_event(&event, 5).unwrap();
        assert_eq!(back, due);
        assert_eq!(as_of, 1_700_000_000_000);
    }

    #[test]
    fn without_a_time_it_is_due_now_and_other_types_are_refused() {
        let event = EventBuilderV10::new()
            .id("1")
            .ty(DIGEST_DUE)
            .source("/x")
            .data(
                "application/json",
                serde_json::json!({"email": "a@example.com"}),
            )
            .build()
            .unwrap();
        let (_, as_of) = DigestDue::from_event(&event, 42).unwrap();
        assert_eq!(as_of, 42);
        let other = EventBuilderV10::new()
            .id("2")
            .ty("tickermesh.threshold.crossed")
            .source("/x")
            .data(
                "application/json",
                serde_json::json!({"email": "a@example.com"}),
            )
            .build()
            .unwrap();
        assert!(matches!(
            DigestDue::from_event(&other, 0),
            Err(EventError::Type(_))
        ));
    }
}
