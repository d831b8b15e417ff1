//! The rules of access codes, as pure functions of the stored state and the time.

use std::time::Duration;

use crate::config::{positive_var, ConfigError};
use crate::error::{Error, Result};

const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, PartialEq)]
pub struct AccessPolicy {
    /// How long an e-mailed code can be used (`TICKERMESH_ACCESS_CODE_TTL_SECS`, 1 h).
    pub code_ttl: Duration,
    /// How long an unconfirmed registration is kept (`TICKERMESH_UNCONFIRMED_TTL_SECS`, 48 h).
    pub unconfirmed_ttl: Duration,
    /// Wrong codes before the code is locked (`TICKERMESH_ACCESS_CODE_ATTEMPTS`, 5).
    pub max_attempts: u32,
    /// Codes e-mailed to one address per hour (`TICKERMESH_ACCESS_CODES_PER_HOUR`, 3).
    pub codes_per_hour: u32,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(3600),
            unconfirmed_ttl: Duration::from_secs(48 * 3600),
            max_attempts: 5,
            codes_per_hour: 3,
        }
    }
}

impl AccessPolicy {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            code_ttl: Duration::from_secs(positive_var(
                "TICKERMESH_ACCESS_CODE_TTL_SECS",
                d.code_ttl.as_secs(),
            )?),
            unconfirmed_ttl: Duration::from_secs(positive_var(
                "TICKERMESH_UNCONFIRMED_TTL_SECS",
                d.unconfirmed_ttl.as_secs(),
            )?),
            max_attempts: positive_var("TICKERMESH_ACCESS_CODE_ATTEMPTS", d.max_attempts)?,
            codes_per_hour: positive_var("TICKERMESH_ACCESS_CODES_PER_HOUR", d.codes_per_hour)?,
        })
    }

    pub fn code_ttl_ms(&self) -> i64 {
        i64::try_from(self.code_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn unconfirmed_ttl_ms(&self) -> i64 {
        i64::try_from(self.unconfirmed_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The codes e-mailed to an address in the current hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub start_ms: i64,
    pub sends: i64,
}

/// The window after one more code is sent at `now_ms`, or how long to wait when the address had
/// its `per_hour` codes in this hour.
pub fn next_send(
    previous: Option<SendWindow>,
    now_ms: i64,
    per_hour: u32,
) -> std::result::Result<SendWindow, Duration> {
    match previous {
        Some(w) if now_ms < w.start_ms.saturating_add(HOUR_MS) => {
            if w.sends >= i64::from(per_hour) {
                let wait_ms = w.start_ms.saturating_add(HOUR_MS) - now_ms;
                Err(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)))
            } else {
                Ok(SendWindow {
                    start_ms: w.start_ms,
                    sends: w.sends + 1,
                })
            }
        }
        _ => Ok(SendWindow {
            start_ms: now_ms,
            sends: 1,
        }),
    }
}

/// A user's live code as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    pub user_id: i64,
    pub nonce: String,
    pub expires_at_ms: i64,
    pub failed_attempts: i64,
    pub used_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Counted as a failed attempt.
    Wrong,
    Expired,
    Used,
    /// Too many wrong codes: even the right one no longer works.
    Locked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Wrong => "wrong",
            Self::Expired => "expired",
            Self::Used => "used",
            Self::Locked => "locked",
        }
    }
}

/// What a code given for `code` means. `matches` is the constant-time comparison of the given
/// code with the derived one; the checks before it do not depend on the given code.
pub fn judge(code: &StoredCode, matches: bool, now_ms: i64, max_attempts: u32) -> Verdict {
    if code.used_at_ms.is_some() {
        Verdict::Used
    } else if code.failed_attempts >= i64::from(max_attempts) {
        Verdict::Locked
    } else if now_ms >= code.expires_at_ms {
        Verdict::Expired
    } else if matches {
        Verdict::Accept
    } else {
        Verdict::Wrong
    }
}

/// Whether the given code is the expected one, in time independent of where they differ.
pub fn same_code(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A code as a person types it: eight digits, spaces and dashes ignored.
pub fn normalize_code(raw: &str) -> Result<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\t'))
        .collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            "code",
            "must be the 8 digits from the e-mail",
        ));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_limited_per_hour() {
        let w = |start_ms, sends| Some(SendWindow { start_ms, sends });
        let cases = [
            (
                None,
                1_000,
                Ok(SendWindow {
                    start_ms: 1_000,
                    sends: 1,
                }),
            ),
            (
                w(0, 1),
                10,
                Ok(SendWindow {
                    start_ms: 0,
                    sends: 2,
                }),
            ),
            (
                w(0, 2),
                10,
                Ok(SendWindow {
                    start_ms: 0,
                    sends: 3,
                }),
            ),
            (w(0, 3), 600_000, Err(Duration::from_millis(3_000_000))),
            (
                w(0, 3),
                HOUR_MS,
                Ok(SendWindow {
                    start_ms: HOUR_MS,
                    sends: 1,
                }),
            ),
            (
                w(0, 99),
                HOUR_MS + 5,
                Ok(SendWindow {
                    start_ms: HOUR_MS + 5,
                    sends: 1,
                }),
            ),
        ];
        for (previous, now, want) in cases {
            assert_eq!(next_send(previous, now, 3), want, "{previous:?} at {now}");
        }
    }

    #[test]
    fn codes_are_judged_in_order_used_locked_expired_match() {
        let code = |attempts, used| StoredCode {
            user_id: 1,
            nonce: "n".into(),
            expires_at_ms: 100,
            failed_attempts: attempts,
            used_at_ms: used,
        };
        let cases = [
            (code(0, None), true, 50, Verdict::Accept),
            (code(0, None), false, 50, Verdict::Wrong),
            (code(4, None), true, 50, Verdict::Accept),
            (code(5, None), true, 50, Verdict::Locked),
            (code(0, None), true, 100, Verdict::Expired),
            (code(0, Some(60)), true, 70, Verdict::Used),
            (code(5, Some(60)), false, 200, Verdict::Used),
        ];
        for (stored, matches, now, want) in cases {
            assert_eq!(
                judge(&stored, matches, now, 5),
                want,
                "{stored:?} {matches} {now}"
            );
        }
    }

    #[test]
    fn codes_are_typed_loosely_but_must_be_eight_digits() {
        assert_eq!(normalize_code("1234 5678").unwrap(), "12345678");
        assert_eq!(normalize_code(" 1234-5678 ").unwrap(), "12345678");
        for bad in ["", "1234567", "123456789", "1234567a", "１２３４５６７８"] {
            let err = normalize_code(bad).unwrap_err();
            assert!(err.to_string().starts_with("code:"), "{bad:?}");
        }
    }
}
