//! Hands the e-mails of new access codes to the broker. The function that issued a code hands
//! its event over right after the commit ([`hand_over`]), with no write after it; the upkeep
//! re-sends what is still unmailed after a grace period ([`publish_codes`]) — a hand-over that
//! failed, or a process that stopped between commit and hand-over. notify mails a code once
//! (it records the e-mail), so a re-sent event mails nothing twice.

use std::time::Duration;

use crate::events::{drain_outbox, AccessCodeRequested, Publisher};
use crate::store::access::{self, Issued};
use crate::store::Store;
use crate::{Error, Result};

const BATCH: i64 = 100;
/// How long a code's e-mail may take before the upkeep sends its event again.
pub const GRACE: Duration = Duration::from_secs(30);

fn event(user_id: i64, nonce: &str) -> Result<cloudevents::Event> {
    AccessCodeRequested {
        user_id,
        nonce: nonce.to_owned(),
    }
    .to_event()
    .map_err(|e| Error::Internal(format!("cannot build an event: {e}")))
}

/// Hands the event of a just-issued code to the broker.
pub async fn hand_over(publisher: &dyn Publisher, topic: &str, code: &Issued) -> Result<()> {
    let event = event(code.user_id, &code.nonce)?;
    publisher
        .publish(topic, &code.user_id.to_string(), event)
        .await?;
    Ok(())
}

/// Publishes the events of codes issued more than [`GRACE`] ago and still unmailed; returns
/// how many went.
pub async fn publish_codes(store: &Store, publisher: &dyn Publisher, topic: &str) -> Result<usize> {
    let before = crate::now_unix_ms().saturating_sub(GRACE.as_millis() as i64);
    drain_outbox(
        || access::pending(store.pool(), before, BATCH),
        |batch| async move {
            for code in batch {
                let event = event(code.user_id, &code.nonce)?;
                publisher
                    .publish(topic, &code.user_id.to_string(), event)
                    .await?;
                access::mark_published(store.pool(), &code, crate::now_unix_ms()).await?;
            }
            Ok(())
        },
    )
    .await
}
