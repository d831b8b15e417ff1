//! The register function: `UserCommands/RegisterUser`. A new user starts unconfirmed, and the
//! confirmation e-mail's code is issued in the same transaction (its e-mail goes out through
//! notify). Its container answers UNIMPLEMENTED for the other methods of the service; the
//! ingress routes those to their own functions.

mod metrics;

use std::sync::Arc;

use tickermesh_api::v1::{RegisterUserRequest, RegisterUserResponse};
use tickermesh_core::access::{CodeIssuer, Handover};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::domain::{Email, Thresholds, Ticker, WatchRules};
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::registration::{NewRegistration, RETURNING};
use tickermesh_core::store::{access, users};
use tickermesh_core::{now_unix_ms, Context, Result};

/// The RegisterUser command: an unconfirmed user watching one ticker and its first code, at
/// most once per idempotency key.
pub struct Register {
    codes: Arc<CodeIssuer>,
}

impl Register {
    /// Exports the command's outcome counter at zero.
    pub fn new(codes: Arc<CodeIssuer>) -> Self {
        metrics::init();
        Self { codes }
    }
}

#[async_trait::async_trait]
impl Command for Register {
    type Request = RegisterUserRequest;
    type Response = RegisterUserResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        let ticker = Ticker::parse("ticker", &request.ticker)?;
        let thresholds = Thresholds::new(request.min_price, request.max_price)?;
        let rules = WatchRules::new(request.move_percent, request.cooldown_seconds)?;
        self.codes
            .check_client(&call.caller.metadata, call.caller.peer, "registrations")?;
        let backend = call.ctx.store.backend();
        let policy = self.codes.policy.clone();
        let handover = Handover::default();
        // A new address in one round trip where the store allows it (MySQL); a repeated key,
        // an address already registered and SQLite go the general way below.
        let mut fresh =
            NewRegistration::new(&email, &ticker, thresholds, rules, &policy, now_unix_ms())?;
        let response = RegisterUserResponse {
            user: Some(fresh.user.clone().into()),
            code_expires_at_unix_ms: fresh.expires_at_ms(),
        };
        let batch = std::mem::take(&mut fresh.batch);
        if let Some(ids) = call.in_one_trip(batch, &response, RETURNING).await? {
            handover.keep(fresh.issued(&ids)?);
            handover.send(&self.codes);
            return Ok(response);
        }
        let kept = handover.clone();
        let response = call
            .once(move |conn| {
                Box::pin(async move {
                    let now = now_unix_ms();
                    let expired_before = now.saturating_sub(policy.unconfirmed_ttl_ms());
                    let user = users::insert(
                        conn,
                        &email,
                        &ticker,
                        thresholds,
                        rules,
                        now,
                        expired_before,
                    )
                    .await?;
                    let expires = kept.keep(
                        access::issue(
                            conn,
                            backend,
                            user.id,
                            &user.email,
                            access::Purpose::Confirm,
                            true,
                            &policy,
                            now,
                        )
                        .await?,
                    );
                    Ok(RegisterUserResponse {
                        user: Some(user.into()),
                        code_expires_at_unix_ms: expires,
                    })
                })
            })
            .await?;
        // After the commit: the code's e-mail handed over. (No first price is asked for here:
        // the address sees prices once confirmed, see `tickermesh_core::events::collect_request`.)
        handover.send(&self.codes);
        Ok(response)
    }

    fn observe(&self, result: &Result<RegisterUserResponse>) {
        metrics::count(result);
    }
}

/// The function's whole HTTP surface, ready to serve on a listener.
pub async fn router(ctx: Arc<Context>, codes: Arc<CodeIssuer>) -> Router {
    let commands = UserCommandsService {
        register: serves(Register::new(codes)),
        ..UserCommandsService::new(ctx)
    };
    GrpcApp::new().service(commands.server()).router().await
}
