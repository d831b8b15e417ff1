use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use tickermesh_core::config::{positive_var, secret_opt, var, var_opt, ConfigError};

use crate::mailer::MailConfig;

pub const DEFAULT_FROM: &str = "tickermesh <alerts@tickermesh.localhost>";

/// Where alert e-mails go and whom they come from.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub transport: MailConfig,
    /// `TICKERMESH_MAIL_FROM`.
    pub from: Mailbox,
    pub retry: MailRetry,
    /// `TICKERMESH_MAIL_CONCURRENCY` (default [`DEFAULT_MAIL_CONCURRENCY`]): alerts handled at
    /// once by a consumer (Kafka or the in-process bus), each on its own SMTP connection.
    pub concurrency: usize,
    /// `TICKERMESH_MAIL_LEASE_SECS` (default [`DEFAULT_MAIL_LEASE`]): how long a claim on an
    /// alert being mailed holds without being renewed (see [`crate::Notifier::with_lease`]).
    pub lease: Duration,
}

/// How long a claim holds unless renewed: notify renews it every third of it while it sends,
/// so it only has to outlast a stall of the database or the process; it is also how long the
/// alerts a killed notify was mailing wait before another one mails them.
pub const DEFAULT_MAIL_LEASE: Duration = Duration::from_secs(300);

/// Alerts in flight at once per notify consumer. Measured against the test suite's SMTP
/// server (`cargo bench --bench pipeline -- emails-broker`, BENCHMARKS.md): one at a time is
/// bound by the database round trips of each alert; 32 keeps the SMTP server and the
/// database busy without a connection storm toward a real mail server.
pub const DEFAULT_MAIL_CONCURRENCY: usize = 32;

/// More connections than this to one mail server looks like an attack to it.
const MAX_MAIL_CONCURRENCY: usize = 256;

/// How a message the server defers (4xx) is tried again before it is dead-lettered.
#[derive(Debug, Clone, Copy)]
pub struct MailRetry {
    /// `TICKERMESH_MAIL_ATTEMPTS` (default 5): tries in all.
    pub attempts: u32,
    /// `TICKERMESH_MAIL_RETRY_DELAY_MS` (default 1000): the first wait, doubling up to 30 s.
    pub first_delay: Duration,
}

impl Default for MailRetry {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_secs(1),
        }
    }
}

impl MailRetry {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        let first_ms = default.first_delay.as_millis() as u64;
        Ok(Self {
            attempts: positive_var("TICKERMESH_MAIL_ATTEMPTS", default.attempts)?,
            first_delay: Duration::from_millis(positive_var(
                "TICKERMESH_MAIL_RETRY_DELAY_MS",
                first_ms,
            )?),
        })
    }

    /// The waits between tries: one fewer than the attempts.
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .build()
    }
}

impl MailSettings {
    /// `TICKERMESH_SMTP_URL` (+ `TICKERMESH_SMTP_USERNAME`, `TICKERMESH_SMTP_PASSWORD`) selects
    /// SMTP; otherwise `TICKERMESH_MAIL_OUTBOX`, or `default_outbox` when given.
    pub fn from_env(default_outbox: Option<PathBuf>) -> Result<Self, ConfigError> {
        let smtp = secret_opt("TICKERMESH_SMTP_URL")?;
        let outbox: Option<PathBuf> = var_opt("TICKERMESH_MAIL_OUTBOX")?;
        let transport = match (smtp, outbox.or(default_outbox)) {
            (Some(url), _) => {
                let user: Option<String> = var_opt("TICKERMESH_SMTP_USERNAME")?;
                let password = secret_opt("TICKERMESH_SMTP_PASSWORD")?;
                MailConfig::Smtp {
                    url,
                    credentials: user.map(|u| (u, password.unwrap_or_else(|| "".into()))),
                }
            }
            (None, Some(dir)) => MailConfig::Outbox(dir),
            (None, None) => {
                return Err(ConfigError {
                    var: "TICKERMESH_SMTP_URL".into(),
                    reason: "set it (or TICKERMESH_MAIL_OUTBOX for .eml files)".into(),
                })
            }
        };
        let concurrency = positive_var("TICKERMESH_MAIL_CONCURRENCY", DEFAULT_MAIL_CONCURRENCY)?;
        if concurrency > MAX_MAIL_CONCURRENCY {
            return Err(ConfigError {
                var: "TICKERMESH_MAIL_CONCURRENCY".into(),
                reason: format!("at most {MAX_MAIL_CONCURRENCY} (got {concurrency})"),
            });
        }
        let lease = positive_var("TICKERMESH_MAIL_LEASE_SECS", DEFAULT_MAIL_LEASE.as_secs())?;
        Ok(Self {
            retry: MailRetry::from_env()?,
            concurrency,
            lease: Duration::from_secs(lease),
            transport,
            from: var("TICKERMESH_MAIL_FROM", DEFAULT_FROM.to_owned())?
                .parse()
                .map_err(|e| ConfigError {
                    var: "TICKERMESH_MAIL_FROM".into(),
                    reason: format!("{e}"),
                })?,
        })
    }
}
