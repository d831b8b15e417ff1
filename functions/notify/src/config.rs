use std::path::PathBuf;

use lettre::message::Mailbox;
use tickermesh_core::config::{secret_opt, var, var_opt, ConfigError};

use crate::mailer::MailConfig;

pub const DEFAULT_FROM: &str = "tickermesh <alerts@tickermesh.localhost>";

/// Where alert e-mails go and whom they come from.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub transport: MailConfig,
    /// `TICKERMESH_MAIL_FROM`.
    pub from: Mailbox,
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
        Ok(Self {
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
