//! The e-mails of access codes (`tickermesh.access.code`): the event names a code (user and
//! nonce); the address comes from the database and the code is derived with the signing key,
//! so neither is in the broker's log. A code replaced or used before its e-mail went out is not
//! mailed (the newer one is); a code already mailed is not mailed twice.

use std::sync::LazyLock;

use prometheus::IntCounterVec;
use tickermesh_core::events::AccessCodeRequested;
use tickermesh_core::store::access;
use tickermesh_core::{now_unix_ms, Error, Result};

use crate::message::{confirmation_message, Confirmation, ConfirmationPurpose};
use crate::{Notifier, SendError};

static CODE_EMAILS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_access_emails_total",
        "Access code e-mails, by outcome (sent, duplicate, stale: the code was replaced or \
         used before its e-mail, failed_permanent: refused by the mail server).",
        &["outcome"],
    )
});

const OUTCOMES: [&str; 4] = ["sent", "duplicate", "stale", "failed_permanent"];

pub(crate) fn init() {
    tickermesh_core::metrics::export_at_zero(&CODE_EMAILS, &OUTCOMES);
}

impl Notifier {
    /// Mails the code the event names, once. Without a signing key this notify cannot make
    /// codes: the event is refused (the configuration says so at start in the cluster).
    pub async fn mail_code(&self, named: &AccessCodeRequested) -> Result<()> {
        let Some(key) = &self.key else {
            return Err(Error::Internal(
                "an access code e-mail came, but no signing key is configured".into(),
            ));
        };
        let pool = self.store.pool();
        let Some(code) = access::to_mail(pool, named.user_id, &named.nonce).await? else {
            CODE_EMAILS.with_label_values(&["stale"]).inc();
            return Ok(());
        };
        if code.mailed {
            CODE_EMAILS.with_label_values(&["duplicate"]).inc();
            return Ok(());
        }
        let digits = key.access_code(named.user_id, &named.nonce);
        let purpose = match code.purpose.as_str() {
            "confirm" => ConfirmationPurpose::Register,
            _ => ConfirmationPurpose::Access,
        };
        let confirmation = Confirmation {
            email: &code.email,
            code: &digits,
            expires_at_ms: code.expires_at_ms,
            purpose,
        };
        let label = match confirmation_message(&self.from, &confirmation) {
            Err(reason) => {
                tracing::error!(%reason, "an access code e-mail cannot be written; dropped");
                "failed_permanent"
            }
            Ok(message) => match self.deliver(message, None).await {
                Ok(()) => "sent",
                Err(SendError::Unavailable(reason)) => {
                    return Err(Error::Mail(format!("not sent yet: {reason}")));
                }
                Err(SendError::Permanent(reason) | SendError::Transient(reason)) => {
                    tracing::error!(%reason, "an access code e-mail was refused; dropped");
                    "failed_permanent"
                }
            },
        };
        access::mark_mailed(pool, named.user_id, &named.nonce, now_unix_ms()).await?;
        CODE_EMAILS.with_label_values(&[label]).inc();
        Ok(())
    }
}
