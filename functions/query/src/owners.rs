//! Who a call is about: the request's e-mail, once the call's access token is found to be that
//! user's. Owners of tokens are cached for as long as the latest-quote cache keeps answers: a
//! revoked token (deleted user, replaced token) stops working within that TTL on every
//! replica.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tickermesh_core::access::{missing, TokenHash};
use tickermesh_core::command::authorize;
use tickermesh_core::domain::Email;
use tickermesh_core::{Context, Result};

#[derive(Clone)]
pub struct Owners(Option<Cache<TokenHash, Arc<str>>>);

impl Owners {
    /// No cache for a zero TTL.
    pub fn new(ttl: Duration) -> Self {
        Self((!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build()
        }))
    }

    /// The request's e-mail, if `token` is that user's: UNAUTHENTICATED or PERMISSION_DENIED
    /// otherwise, the same whether or not the e-mail is registered.
    pub async fn owner(
        &self,
        ctx: &Context,
        token: Result<Option<TokenHash>>,
        raw_email: &str,
    ) -> Result<Email> {
        let email = Email::parse("email", raw_email)?;
        let token = token?.ok_or_else(missing)?;
        if let Some(cache) = &self.0 {
            if let Some(owner) = cache.get(&token).await {
                if *owner == *email.as_str() {
                    return Ok(email);
                }
            }
        }
        authorize(&ctx.store, &token, &email).await?;
        if let Some(cache) = &self.0 {
            cache.insert(token, Arc::from(email.as_str())).await;
        }
        Ok(email)
    }
}
