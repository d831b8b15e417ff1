//! A new registration as one batch ([`super::batch`]): the rows `users::insert` and
//! `access::issue` write for a new address — the user, its first watch, its first access code —
//! in one round trip on MySQL. Anything else (an address already registered, or one whose
//! unconfirmed registration expired and is made anew) fails a statement of the batch and goes
//! the general way, which knows those cases.

use crate::access::{next_send, random_nonce, AccessPolicy};
use crate::domain::{Email, Thresholds, Ticker, WatchRules, ZoneName};
use crate::error::{Error, Result};
use crate::store::access::{Issued, Purpose};
use crate::store::batch::{self, Batch};
use crate::store::users::User;

/// What the batch's trailing `SELECT` returns: the new user's id (`LAST_INSERT_ID()` is the
/// watch's by then, so it is kept in a session variable).
pub const RETURNING: &str = "SELECT CAST(@tm_user AS SIGNED)";

/// A registration's batch, and the code it issues once the batch has said the user's id.
pub struct NewRegistration {
    pub batch: Batch,
    /// The user as registered; its ids are not known before the batch ran (and no answer
    /// shows them).
    pub user: User,
    nonce: String,
    expires_at_ms: i64,
}

/// A user as a registration makes it: unconfirmed, watching `ticker`, in UTC with no quiet
/// hours. The one place its fields are set, for the general path and the batch alike.
pub fn new_user(
    ids: (i64, i64),
    email: &Email,
    ticker: &Ticker,
    thresholds: Thresholds,
    rules: WatchRules,
    now_ms: i64,
) -> User {
    User {
        id: ids.0,
        subscription_id: ids.1,
        email: email.as_str().to_owned(),
        ticker: ticker.as_str().to_owned(),
        min_price: thresholds.min(),
        max_price: thresholds.max(),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        confirmed_at_ms: None,
        unsubscribed_at_ms: None,
        move_percent: rules.move_percent(),
        cooldown_ms: rules.cooldown.as_ms(),
        time_zone: ZoneName::utc().as_str().to_owned(),
        quiet_hours: None,
    }
}

impl NewRegistration {
    pub fn new(
        email: &Email,
        ticker: &Ticker,
        thresholds: Thresholds,
        rules: WatchRules,
        policy: &AccessPolicy,
        now_ms: i64,
    ) -> Result<Self> {
        // A new address has sent no code yet: this is the first of its hour.
        let window = next_send(None, now_ms, policy.codes_per_hour).map_err(|_| {
            Error::Internal("the code limit refused an address with no code".into())
        })?;
        let nonce = random_nonce()?;
        let expires_at_ms = now_ms.saturating_add(policy.code_ttl_ms());
        let user = new_user((0, 0), email, ticker, thresholds, rules, now_ms);
        let email = batch::text(email.as_str());
        let mut batch = Batch::new();
        batch
            .push(format!(
                "INSERT INTO users (email, created_at_ms, updated_at_ms) \
                 VALUES ({email}, {now_ms}, {now_ms})"
            ))
            .push("SET @tm_user = LAST_INSERT_ID()")
            .push(format!(
                "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, move_percent, \
                 cooldown_ms, created_at_ms, updated_at_ms) \
                 VALUES (@tm_user, {}, {}, {}, {}, {}, {now_ms}, {now_ms})",
                batch::text(ticker.as_str()),
                batch::real(thresholds.min()),
                batch::real(thresholds.max()),
                batch::real(rules.move_percent()),
                rules.cooldown.as_ms(),
            ))
            .push(format!(
                "INSERT INTO access_codes (user_id, email, nonce, purpose, expires_at_ms, \
                 failed_attempts, used_at_ms, window_start_ms, sends, created_at_ms) \
                 VALUES (@tm_user, {email}, {}, {}, {expires_at_ms}, 0, NULL, {}, {}, {now_ms})",
                batch::text(&nonce),
                batch::text(Purpose::Confirm.as_str()),
                window.start_ms,
                window.sends,
            ));
        Ok(Self {
            batch,
            user,
            nonce,
            expires_at_ms,
        })
    }

    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }

    /// The code issued, once the committed batch returned the user's id.
    pub fn issued(self, returned: &[i64]) -> Result<Issued> {
        let user_id = returned
            .first()
            .copied()
            .ok_or_else(|| Error::Internal("a registration batch returned no user id".into()))?;
        Ok(Issued {
            user_id,
            nonce: self.nonce,
            expires_at_ms: self.expires_at_ms,
        })
    }
}
