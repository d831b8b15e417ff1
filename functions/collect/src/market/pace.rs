//! How fast requests go to the market data service: at most the configured rate, evenly
//! spaced (a burst of one, so no second holds more than the rate), and not at all while the
//! service has asked, with `429 Too Many Requests` and `Retry-After`, to be left alone.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

pub struct Pace {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

/// The longest pause a `Retry-After` may ask for: a bad header must not stop collection.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);
/// The pause after a 429 without a usable `Retry-After`.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

impl Pace {
    pub fn new(per_second: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits for this request's turn: its slot under the rate, outside any pause (a pause
    /// asked for while it waited for its slot holds it too).
    pub async fn ready(&self) {
        loop {
            self.limiter.until_ready().await;
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// The service asked for a pause: no request goes out for `pause`.
    pub fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause.min(MAX_PAUSE);
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

/// The pause a `Retry-After` value asks for at `now`: delta-seconds or an HTTP date
/// (RFC 9110, 10.2.3); [`DEFAULT_PAUSE`] when it is missing or unreadable, at most
/// [`MAX_PAUSE`].
pub fn retry_after(value: Option<&str>, now: SystemTime) -> Duration {
    let Some(value) = value.map(str::trim) else {
        return DEFAULT_PAUSE;
    };
    let asked = match value.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => httpdate::parse_http_date(value)
            .ok()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO)),
    };
    asked.unwrap_or(DEFAULT_PAUSE).min(MAX_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_values() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        let cases = [
            (None, DEFAULT_PAUSE),
            (Some("7"), Duration::from_secs(7)),
            (Some(" 0 "), Duration::ZERO),
            (Some(date.as_str()), Duration::from_secs(30)),
            (Some(past.as_str()), Duration::ZERO),
            (Some("99999999999"), MAX_PAUSE),
            (Some("soon"), DEFAULT_PAUSE),
            (Some("-5"), DEFAULT_PAUSE),
        ];
        for (value, want) in cases {
            assert_eq!(retry_after(value, now), want, "{value:?}");
        }
    }

    #[tokio::test]
    async fn requests_are_spaced_and_paused() {
        let pace = Pace::new(NonZeroU32::new(20).unwrap());
        let started = Instant::now();
        for _ in 0..5 {
            pace.ready().await;
        }
        // The first goes at once, then one every 50 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
        pace.pause(Duration::from_millis(200));
        let paused = Instant::now();
        pace.ready().await;
        assert!(
            paused.elapsed() >= Duration::from_millis(190),
            "{:?}",
            paused.elapsed()
        );
    }
}
