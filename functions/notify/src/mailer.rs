//! Where e-mails go: a real SMTP server, or `.eml` files in an outbox folder (the embedded
//! default), both through lettre.

use std::path::PathBuf;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
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
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good (5xx): retrying cannot help.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Connection trouble, a 4xx, a full disk: worth retrying.
    #[error("transient failure: {0}")]
    Transient(String),
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, String> {
        match config {
            MailConfig::Smtp { url, credentials } => {
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
                Ok(Self::Outbox(AsyncFileTransport::new(dir)))
            }
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Self::Outbox(files) => files
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}
