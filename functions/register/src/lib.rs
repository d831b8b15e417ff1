//! The register function: `UserCommands/RegisterUser`. Its container answers UNIMPLEMENTED for
//! the other methods of the service; the ingress routes those to their own functions.

mod metrics;

use std::sync::Arc;

use tickermesh_api::v1::{RegisterUserRequest, RegisterUserResponse};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::domain::{Email, Thresholds, Ticker};
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::users;
use tickermesh_core::{now_unix_ms, Context, Result};

/// The RegisterUser command: a user watching one ticker, at most once per idempotency key.
pub struct Register(());

impl Register {
    /// Exports the command's outcome counter at zero.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        metrics::init();
        Self(())
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
        call.once(move |conn| {
            Box::pin(async move {
                let user = users::insert(conn, &email, &ticker, thresholds, now_unix_ms()).await?;
                Ok(RegisterUserResponse {
                    user: Some(user.into()),
                })
            })
        })
        .await
    }

    fn observe(&self, result: &Result<RegisterUserResponse>) {
        metrics::count(result);
    }
}

/// The function's whole HTTP surface, ready to serve on a listener.
pub async fn router(ctx: Arc<Context>) -> Router {
    let commands = UserCommandsService {
        register: serves(Register::new()),
        ..UserCommandsService::new(ctx)
    };
    GrpcApp::new().service(commands.server()).router().await
}
