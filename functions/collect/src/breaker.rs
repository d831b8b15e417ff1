//! A circuit breaker around the market data service.
//!
//! Closed: calls go through; K consecutive upstream failures open it. Open: calls fail fast
//! until the cool-down has passed, then one probe goes through (half-open). The probe's
//! success closes it; its failure opens it again. Only upstream failures count — an unknown
//! symbol is a valid answer and counts as a success, so one bad symbol cannot trip it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    /// For the breaker-state gauge: 0 closed, 1 open, 2 half-open.
    pub fn as_metric(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

/// The breaker refused the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the state half-written: recover it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May a call go out now?
    pub fn acquire(&self, now: Instant) -> Result<(), Rejected> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now >= until => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(())
            }
            Inner::Open { .. } => Err(Rejected),
            Inner::HalfOpen { probing: true } => Err(Rejected),
            Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(())
            }
        }
    }

    pub fn success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    pub fn failure(&self, now: Instant) {
        let mut inner = self.lock();
        let open = Inner::Open {
            until: now + self.cooldown,
        };
        *inner = match *inner {
            Inner::Closed { failures } if failures + 1 >= self.threshold => open,
            Inner::Closed { failures } => Inner::Closed {
                failures: failures + 1,
            },
            Inner::HalfOpen { .. } => open,
            // A call admitted before the breaker opened: it stays open, no extension.
            Inner::Open { until } => Inner::Open { until },
        };
    }

    pub fn state(&self) -> State {
        match *self.lock() {
            Inner::Closed { .. } => State::Closed,
            Inner::Open { .. } => State::Open,
            Inner::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_k_consecutive_failures() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t = Instant::now();
        b.failure(t);
        b.failure(t);
        b.success();
        b.failure(t);
        b.failure(t);
        assert_eq!(b.state(), State::Closed, "a success resets the count");
        b.failure(t);
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.acquire(t + Duration::from_secs(9)), Err(Rejected));
    }

    #[test]
    fn half_open_probe_then_close_or_reopen() {
        let b = Breaker::new(1, Duration::from_secs(10));
        let t = Instant::now();
        b.failure(t);
        let later = t + Duration::from_secs(10);
        assert_eq!(b.acquire(later), Ok(()), "cool-down over: one probe");
        assert_eq!(b.state(), State::HalfOpen);
        assert_eq!(b.acquire(later), Err(Rejected), "only one probe at a time");
        b.failure(later);
        assert_eq!(b.state(), State::Open, "failed probe reopens");
        assert_eq!(b.acquire(later + Duration::from_secs(5)), Err(Rejected));
        let again = later + Duration::from_secs(10);
        assert_eq!(b.acquire(again), Ok(()));
        b.success();
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.acquire(again), Ok(()));
    }

    #[test]
    fn late_failures_do_not_extend_an_open_breaker() {
        let b = Breaker::new(1, Duration::from_secs(10));
        let t = Instant::now();
        b.failure(t);
        b.failure(t + Duration::from_secs(9));
        assert_eq!(b.acquire(t + Duration::from_secs(10)), Ok(()));
    }
}
