use std::time::Duration;

use tickermesh_core::config::{var, ConfigError};

/// How many rows one batch may delete at most: a batch of alerts names its rows one by one
/// (bound parameters), and a batch is meant to be short.
pub const MAX_BATCH: u32 = 10_000;

/// The retention function's settings (beyond the database and port every function has).
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// `TICKERMESH_QUOTE_RETENTION` (humantime, default 30 days): quotes whose market time is
    /// older go (each ticker's newest quote stays).
    pub quotes: Duration,
    /// `TICKERMESH_ALERT_RETENTION` (default 180 days): alerts made longer ago go, with
    /// notify's record of each.
    pub alerts: Duration,
    /// `TICKERMESH_RETENTION_BATCH` (default 1000, at most [`MAX_BATCH`]): rows per batch, each
    /// batch its own transaction.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            quotes: Duration::from_secs(30 * 86_400),
            alerts: Duration::from_secs(180 * 86_400),
            batch: 1000,
        }
    }
}

impl RetentionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            quotes: retention("TICKERMESH_QUOTE_RETENTION", default.quotes, HOUR)?,
            alerts: retention("TICKERMESH_ALERT_RETENTION", default.alerts, 2 * DAY)?,
            batch: batch(var("TICKERMESH_RETENTION_BATCH", default.batch)?)?,
        })
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// A humantime duration ("30days", "12h") of at least `minimum`: a typo such as "30s" would
/// otherwise empty the tables within the next pass. Alerts keep at least two days: one held
/// for the user's quiet hours waits up to a day for its digest, and one not yet handed to
/// notify (the broker away) must not go before it is delivered.
fn retention(name: &str, default: Duration, minimum: Duration) -> Result<Duration, ConfigError> {
    let value: Duration = var(name, humantime::Duration::from(default))?.into();
    if value < minimum {
        return Err(ConfigError {
            var: name.to_owned(),
            reason: format!(
                "must be at least {} (got {})",
                humantime::format_duration(minimum),
                humantime::format_duration(value)
            ),
        });
    }
    Ok(value)
}

fn batch(value: u32) -> Result<u32, ConfigError> {
    if value == 0 || value > MAX_BATCH {
        return Err(ConfigError {
            var: "TICKERMESH_RETENTION_BATCH".into(),
            reason: format!("must be between 1 and {MAX_BATCH} (got {value})"),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(batch(0).is_err());
        assert_eq!(batch(1).ok(), Some(1));
        assert_eq!(batch(MAX_BATCH).ok(), Some(MAX_BATCH));
        let err = batch(MAX_BATCH + 1).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("TICKERMESH_RETENTION_BATCH")));
    }

    #[test]
    fn defaults_and_durations() {
        let d = RetentionConfig::default();
        assert_eq!(d.quotes, Duration::from_secs(2_592_000));
        assert_eq!(d.alerts, Duration::from_secs(15_552_000));
        // The variable is unset in unit tests: the default.
        let quotes = retention("TICKERMESH_TEST_UNSET_RETENTION", d.quotes, HOUR).ok();
        assert_eq!(quotes, Some(d.quotes));
        assert_eq!(
            "30days"
                .parse::<humantime::Duration>()
                .ok()
                .map(Duration::from),
            Some(d.quotes)
        );
    }
}
