//! Stored records as API messages.

use tickermesh_api::v1;

use crate::domain::{Cooldown, QuietHours};
use crate::store::{quotes::Quote, users::User, watches::Watch};

impl From<User> for v1::User {
    fn from(u: User) -> Self {
        Self {
            email: u.email,
            ticker: u.ticker,
            min_price: u.min_price,
            max_price: u.max_price,
            created_at_unix_ms: u.created_at_ms,
            updated_at_unix_ms: u.updated_at_ms,
            confirmed: u.confirmed_at_ms.is_some(),
            unsubscribed: u.unsubscribed_at_ms.is_some(),
            move_percent: u.move_percent,
            cooldown_seconds: Cooldown::from_ms(u.cooldown_ms).seconds(),
            time_zone: u.time_zone,
            quiet_hours: u.quiet_hours.map(|q| v1::QuietHours {
                start: QuietHours::format(q.start_min()),
                end: QuietHours::format(q.end_min()),
            }),
        }
    }
}

impl From<Quote> for v1::Quote {
    fn from(q: Quote) -> Self {
        Self {
            ticker: q.ticker,
            price: q.price,
            currency: q.currency,
            market_time_unix_ms: q.market_time_ms,
            collected_at_unix_ms: q.collected_at_ms,
            simulated: q.simulated,
        }
    }
}

impl From<Watch> for v1::Watch {
    fn from(w: Watch) -> Self {
        Self {
            ticker: w.ticker,
            min_price: w.min_price,
            max_price: w.max_price,
            alert_state: w.alert_state,
            created_at_unix_ms: w.created_at_ms,
            updated_at_unix_ms: w.updated_at_ms,
            move_percent: w.move_percent,
            cooldown_seconds: Cooldown::from_ms(w.cooldown_ms).seconds(),
        }
    }
}
