use tickermesh_core::config::{positive_var, var, ConfigError};
use tickermesh_core::events::DEFAULT_ALERTS_TOPIC;

/// The digest function's settings (beyond the database and port every function has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// `TICKERMESH_ALERTS_TOPIC`: where notify reads its events.
    pub alerts_topic: String,
    /// `TICKERMESH_DIGEST_BATCH` (default 500): addresses read per query.
    pub batch: u32,
}

pub const DEFAULT_BATCH: u32 = 500;

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            alerts_topic: DEFAULT_ALERTS_TOPIC.to_owned(),
            batch: DEFAULT_BATCH,
        }
    }
}

impl DigestConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            alerts_topic: var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?,
            batch: positive_var("TICKERMESH_DIGEST_BATCH", DEFAULT_BATCH)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test of this crate that touches the environment.
    #[test]
    fn defaults_and_a_bad_batch_names_its_variable() {
        std::env::remove_var("TICKERMESH_ALERTS_TOPIC");
        std::env::remove_var("TICKERMESH_DIGEST_BATCH");
        assert_eq!(DigestConfig::from_env().unwrap(), DigestConfig::default());
        for bad in ["0", "-1", "many"] {
            std::env::set_var("TICKERMESH_DIGEST_BATCH", bad);
            let err = DigestConfig::from_env().unwrap_err();
            assert_eq!(err.var, "TICKERMESH_DIGEST_BATCH", "{bad}");
        }
        std::env::set_var("TICKERMESH_DIGEST_BATCH", "7");
        std::env::set_var("TICKERMESH_ALERTS_TOPIC", "alerts-x");
        let config = DigestConfig::from_env().unwrap();
        assert_eq!(
            (config.batch, config.alerts_topic.as_str()),
            (7, "alerts-x")
        );
        std::env::remove_var("TICKERMESH_ALERTS_TOPIC");
        std::env::remove_var("TICKERMESH_DIGEST_BATCH");
    }
}
