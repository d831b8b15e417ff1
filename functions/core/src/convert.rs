//! Stored records as API messages.

use tickermesh_api::v1;

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
        }
    }
}
