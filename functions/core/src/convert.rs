//! Stored records as API messages.

use tickermesh_api::v1;

use crate::store::{quotes::Quote, users::User};

impl From<User> for v1::User {
    fn from(u: User) -> Self {
        Self {
            email: u.email,
            ticker: u.ticker,
            min_price: u.min_price,
            max_price: u.max_price,
            created_at_unix_ms: u.created_at_ms,
            updated_at_unix_ms: u.updated_at_ms,
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
