//! The access function: `UserCommands/ConfirmEmail` and `UserCommands/RequestAccess`, the two
//! ways to prove that one owns an e-mail address. A code from an e-mail becomes an access
//! token; a lost token is replaced by asking for a new code.

mod metrics;

use std::sync::Arc;

use tickermesh_api::v1::{
    ConfirmEmailRequest, ConfirmEmailResponse, RequestAccessRequest, RequestAccessResponse,
};
use tickermesh_core::access::{
    judge, normalize_code, same_code, AccessToken, CodeIssuer, Handover, Verdict,
};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::domain::Email;
use tickermesh_core::events::collect_request::CollectRequests;
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::store::{access, users};
use tickermesh_core::{now_unix_ms, Context, Error, Result};

/// One answer for every code that does not work, whatever the reason (no such user, wrong,
/// expired, used, locked): it tells nobody which addresses are registered.
fn rejected() -> Error {
    Error::Unauthenticated(
        "the code is wrong, expired or used up; ask for a new one with RequestAccess".into(),
    )
}

/// ConfirmEmail. Not recorded under its idempotency key: its response holds a token shown
/// once. It is at most once all the same, because its code is single use; a repeat is told the
/// code is used up.
pub struct Confirm {
    codes: Arc<CodeIssuer>,
    key: SigningKey,
    /// Asks collect for the first price of the confirmed user's tickers that have none, after
    /// the commit (none: the next tick).
    first_prices: Option<Arc<CollectRequests>>,
}

#[async_trait::async_trait]
impl Command for Confirm {
    type Request = ConfirmEmailRequest;
    type Response = ConfirmEmailResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        let given = normalize_code(&request.code)?;
        let store = &call.ctx.store;
        let now = now_unix_ms();
        // Its own transaction: a wrong code is counted even though the call fails.
        let mut tx = store.begin().await?;
        let Some(code) = access::lock_code(&mut tx, store.backend(), email.as_str()).await? else {
            metrics::code("unknown");
            return Err(rejected());
        };
        let expected = self.key.access_code(code.user_id, &code.nonce);
        let verdict = judge(
            &code,
            same_code(&expected, &given),
            now,
            self.codes.policy.max_attempts,
        );
        metrics::code(verdict.as_str());
        match verdict {
            Verdict::Accept => {
                let token = AccessToken::generate()?;
                access::consume(
                    &mut tx,
                    store.backend(),
                    code.user_id,
                    token.hash().as_bytes(),
                    now,
                )
                .await?;
                let user = users::find(&mut *tx, &email)
                    .await?
                    .ok_or_else(|| users::not_found(&email))?;
                tx.commit()
                    .await
                    .map_err(|e| Error::db("commit a confirmation", e))?;
                // From now on the user reads prices and is mailed alerts: its first ones now.
                if let Some(first_prices) = &self.first_prices {
                    let source = "/tickermesh/access";
                    first_prices.for_user(store, code.user_id, source).await;
                }
                Ok(ConfirmEmailResponse {
                    user: Some(user.into()),
                    access_token: token.reveal(),
                })
            }
            Verdict::Wrong => {
                access::count_failure(&mut tx, code.user_id).await?;
                tx.commit()
                    .await
                    .map_err(|e| Error::db("commit a wrong code", e))?;
                Err(rejected())
            }
            Verdict::Expired | Verdict::Used | Verdict::Locked => Err(rejected()),
        }
    }
}

/// RequestAccess: a new code by e-mail to a registered address, at most once per idempotency
/// key. The answer is the same for an address nobody registered.
pub struct RequestAccess {
    codes: Arc<CodeIssuer>,
}

#[async_trait::async_trait]
impl Command for RequestAccess {
    type Request = RequestAccessRequest;
    type Response = RequestAccessResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        self.codes
            .check_client(&call.caller.metadata, call.caller.peer, "code requests")?;
        let backend = call.ctx.store.backend();
        let policy = self.codes.policy.clone();
        let handover = Handover::default();
        let kept = handover.clone();
        let unknown = self.codes.clone();
        let response = call
            .once(move |conn| {
                Box::pin(async move {
                    let now = now_unix_ms();
                    let expires = now.saturating_add(policy.code_ttl_ms());
                    let expired_before = now.saturating_sub(policy.unconfirmed_ttl_ms());
                    let user = users::find(&mut *conn, &email).await?.filter(|u| {
                        u.confirmed_at_ms.is_some() || u.created_at_ms >= expired_before
                    });
                    let Some(user) = user else {
                        // Limited like a registered address, so the limit tells nothing.
                        unknown.check_unknown(email.as_str())?;
                        return Ok(RequestAccessResponse {
                            code_expires_at_unix_ms: expires,
                        });
                    };
                    let expires = kept.keep(
                        access::issue(
                            conn,
                            backend,
                            user.id,
                            &user.email,
                            access::Purpose::Access,
                            false,
                            &policy,
                            now,
                        )
                        .await?,
                    );
                    Ok(RequestAccessResponse {
                        code_expires_at_unix_ms: expires,
                    })
                })
            })
            .await?;
        handover.send(&self.codes);
        Ok(response)
    }
}

impl Confirm {
    /// Exports the codes' outcome counter at zero.
    pub fn new(codes: Arc<CodeIssuer>, key: SigningKey) -> Self {
        metrics::init();
        Self {
            codes,
            key,
            first_prices: None,
        }
    }

    /// Once an address is confirmed, asks collect for the first price of its tickers that have
    /// none (see `tickermesh_core::events::collect_request`).
    pub fn with_first_prices(self, first_prices: Arc<CollectRequests>) -> Self {
        Self {
            first_prices: Some(first_prices),
            ..self
        }
    }
}

impl RequestAccess {
    pub fn new(codes: Arc<CodeIssuer>) -> Self {
        Self { codes }
    }
}

/// Both commands of the access function.
pub fn commands(ctx: Arc<Context>, codes: Arc<CodeIssuer>, key: SigningKey) -> UserCommandsService {
    let confirm = Confirm::new(codes.clone(), key);
    commands_with(ctx, codes, confirm)
}

/// Both commands, ConfirmEmail served by this `Confirm` (e.g. one that asks for first prices).
pub fn commands_with(
    ctx: Arc<Context>,
    codes: Arc<CodeIssuer>,
    confirm: Confirm,
) -> UserCommandsService {
    UserCommandsService {
        confirm_email: serves(confirm),
        request_access: serves(RequestAccess::new(codes)),
        ..UserCommandsService::new(ctx)
    }
}

/// The function's whole HTTP surface, ready to serve on a listener.
pub async fn router(ctx: Arc<Context>, codes: Arc<CodeIssuer>, key: SigningKey) -> Router {
    let confirm = Confirm::new(codes.clone(), key);
    router_with(ctx, codes, confirm).await
}

/// [`router`] with ConfirmEmail served by this `Confirm`.
pub async fn router_with(ctx: Arc<Context>, codes: Arc<CodeIssuer>, confirm: Confirm) -> Router {
    GrpcApp::new()
        .service(commands_with(ctx, codes, confirm).server())
        .router()
        .await
}
