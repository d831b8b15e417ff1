//! What the functions that issue access codes (register, access) share: the code rules, the
//! per-client limit, and the outbox of the codes' e-mails with its upkeep.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::metadata::MetadataMap;

use super::{hand_over, publish_codes, AccessPolicy, ClientLimiter, ClientLimits};
use crate::config::{var, ConfigError};
use crate::events::{Publisher, DEFAULT_ALERTS_TOPIC};
use crate::store::access::Issued;
use crate::store::{users, Store};
use crate::Result;

/// What the per-address limit answers, registered address or not.
pub const CODES_PER_ADDRESS: &str = "too many codes e-mailed to this address";

/// How often the upkeep runs: codes whose e-mail could not be handed over are retried, and
/// expired registrations dropped.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Expired registrations dropped per statement.
const PURGE_BATCH: i64 = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct AccessSettings {
    pub policy: AccessPolicy,
    pub limits: ClientLimits,
    /// Where the codes' e-mail events go (`TICKERMESH_ALERTS_TOPIC`): notify's topic.
    pub topic: String,
}

impl AccessSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            policy: AccessPolicy::from_env()?,
            limits: ClientLimits::from_env()?,
            topic: var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?,
        })
    }
}

pub struct CodeIssuer {
    pub policy: AccessPolicy,
    limiter: ClientLimiter,
    /// Code requests for addresses nobody registered, limited like a registered address's
    /// codes, so that the limit does not tell which addresses are registered (per replica).
    unknown: ClientLimiter,
    publisher: Arc<dyn Publisher>,
    topic: String,
}

impl CodeIssuer {
    pub fn new(settings: &AccessSettings, publisher: Arc<dyn Publisher>) -> Self {
        Self {
            policy: settings.policy.clone(),
            limiter: ClientLimiter::new(&settings.limits),
            unknown: ClientLimiter::new(&ClientLimits {
                per_hour: settings.policy.codes_per_hour,
                address_header: None,
            }),
            publisher,
            topic: settings.topic.clone(),
        }
    }

    /// One more call of `what` by this caller, or RESOURCE_EXHAUSTED.
    pub fn check_client(
        &self,
        metadata: &MetadataMap,
        peer: Option<SocketAddr>,
        what: &str,
    ) -> Result<()> {
        let client = self.limiter.client(metadata, peer);
        self.limiter
            .check(&client, &format!("too many {what} from this client"))
    }

    /// One more code request for `email`, an address nobody registered: RESOURCE_EXHAUSTED
    /// past the per-address limit, as for a registered one.
    pub fn check_unknown(&self, email: &str) -> Result<()> {
        self.unknown.check(email, CODES_PER_ADDRESS)
    }

    /// Hands a just-issued code's e-mail to the broker. A failure is logged and left to the
    /// upkeep: the command that issued the code has committed and answers OK.
    pub async fn hand_over(&self, code: &Issued) {
        if let Err(e) = hand_over(self.publisher.as_ref(), &self.topic, code).await {
            tracing::warn!(error = %e, "an access code e-mail is not handed over yet; retried soon");
        }
    }

    /// Hands the code e-mails the hand-over missed to the broker.
    pub async fn send_pending(&self, store: &Store) {
        if let Err(e) = publish_codes(store, self.publisher.as_ref(), &self.topic).await {
            tracing::warn!(error = %e, "access code e-mails not handed over yet; retried soon");
        }
    }

    /// Every `every`: pending code e-mails sent, expired registrations dropped.
    pub async fn upkeep(self: Arc<Self>, store: Store, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.send_pending(&store).await;
            let before = crate::now_unix_ms().saturating_sub(self.policy.unconfirmed_ttl_ms());
            loop {
                match users::purge_unconfirmed(&store, before, PURGE_BATCH).await {
                    Ok(n) if n == PURGE_BATCH as u64 => continue,
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "expired registrations dropped"),
                    Err(e) => tracing::warn!(error = %e, "dropping expired registrations failed"),
                }
                break;
            }
        }
    }
}

/// The code a command's effect issued, handed over once the effect has committed. A replayed
/// command issues none; a code whose transaction rolled back is handed over all the same and
/// mailed by nobody (notify finds no such code).
#[derive(Clone, Default)]
pub struct Handover(Arc<Mutex<Option<Issued>>>);

impl Handover {
    /// Keeps the code for after the commit; returns its expiry.
    pub fn keep(&self, code: Issued) -> i64 {
        let expires = code.expires_at_ms;
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(code);
        }
        expires
    }

    /// Hands the kept code's e-mail to the broker, if the effect issued one — in the
    /// background: the command has committed and answers at once instead of waiting for the
    /// broker's acknowledgement (most of a RegisterUser's time on Kafka); a hand-over that does
    /// not happen (the process stops) is the upkeep's to send.
    pub fn send(&self, codes: &Arc<CodeIssuer>) {
        let code = self.0.lock().ok().and_then(|mut slot| slot.take());
        if let Some(code) = code {
            let codes = codes.clone();
            tokio::spawn(async move { codes.hand_over(&code).await });
        }
    }
}
