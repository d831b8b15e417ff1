//! Where e-mails go: a real SMTP server, or `.eml` files in an outbox folder (the embedded
//! default), both through lettre.

use std::path::{Path, PathBuf};

use crate::smtp::SmtpPool;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub enum MailConfig {
    /// `TICKERMESH_SMTP_URL`, e.g. `smtp://mail:25`, `smtp://mail:587?tls=required`,
    /// `smtps://mail:465`; credentials from `TICKERMESH_SMTP_USERNAME` / `_PASSWORD`.
    Smtp {
        url: SecretString,
        credentials: Option<(String, SecretString)>,
    },
    /// `TICKERMESH_MAIL_OUTBOX`: a folder for `.eml` files.
    Outbox(PathBuf),
}

pub enum Mailer {
    /// `smtp://`: own connections with TCP_NODELAY (see [`crate::smtp`]).
    Pooled(SmtpPool),
    /// `smtps://`: lettre's transport.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The outbox folder (see [`write_eml`]).
    Outbox(PathBuf),
}

/// Why a message was not sent, by what can be done about it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Refused for good: a 5xx reply, or a message this server cannot take (a non-ASCII
    /// address where the server lacks SMTPUTF8). Retrying cannot help: dead-letter it.
    #[error("refused: {0}")]
    Permanent(String),
    /// A 4xx reply about this message (greylisting, a full mailbox): worth a few more tries,
    /// then dead-lettered; other alerts go on meanwhile.
    #[error("deferred: {0}")]
    Transient(String),
    /// The mail server (or the outbox folder) cannot be reached: no message can go out, so
    /// the alert waits and is retried for as long as it takes.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Sorts an SMTP error by what can be done about it.
pub(crate) fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    if e.is_transient() {
        SendError::Transient(text)
    } else if e.is_permanent() || e.is_client() {
        SendError::Permanent(text)
    } else {
        // Connection, network, TLS, timeouts, an unreadable reply: the server, not the message.
        SendError::Unavailable(text)
    }
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, String> {
        match config {
            MailConfig::Smtp { url, credentials } => {
                let login = credentials.as_ref().map(|(user, password)| {
                    Credentials::new(user.clone(), password.expose_secret().to_owned())
                });
                let pool = SmtpPool::from_url(url.expose_secret(), login)
                    .map_err(|e| format!("TICKERMESH_SMTP_URL: {e}"))?;
                if let Some(pool) = pool {
                    return Ok(Self::Pooled(pool));
                }
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                        .map_err(|e| format!("TICKERMESH_SMTP_URL: {e}"))?;
                if let Some((user, password)) = credentials {
                    let password = password.expose_secret().to_owned();
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Ok(Self::Smtp(builder.build()))
            }
            MailConfig::Outbox(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("TICKERMESH_MAIL_OUTBOX {}: {e}", dir.display()))?;
                Ok(Self::Outbox(dir.clone()))
            }
        }
    }

    /// Keeps up to `connections` idle SMTP connections (`smtp://` only): as many as alerts
    /// are sent at once, so that none is opened per message.
    pub fn keep_idle(&mut self, connections: usize) {
        if let Self::Pooled(pool) = self {
            pool.keep_idle(connections);
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Pooled(pool) => pool.send(&message).await,
            Self::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| classify(&e)),
            Self::Outbox(dir) => write_eml(dir, &message)
                .await
                .map_err(|e| SendError::Unavailable(format!("{}: {e}", dir.display()))),
        }
    }
}

/// Writes `message` as `<uuid>.eml` in `dir`, whole or not at all: first under a hidden name
/// that is no `.eml`, then renamed (atomic within a folder), so that whoever reads the outbox
/// (a person, `tickerctl confirm --from-outbox`, a test) never opens a message half-written.
/// (lettre's file transport writes the final name directly.)
async fn write_eml(dir: &Path, message: &Message) -> std::io::Result<()> {
    let name = format!("{}.eml", uuid::Uuid::new_v4());
    let partial = dir.join(format!(".{name}.partial"));
    tokio::fs::write(&partial, message.formatted()).await?;
    if let Err(e) = tokio::fs::rename(&partial, dir.join(&name)).await {
        // Best effort: a leftover hidden file is harmless, but not needed either.
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    Ok(())
}
