//! The update function: `UserCommands/UpdateUser`. Changes a watch's ticker and sets, replaces
//! or clears either threshold in one call; what the request does not mention stays as it is.
//! The watch is the user's only one, or the one `watch` names.

use std::sync::Arc;

use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{self, UpdateUserRequest, UpdateUserResponse};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::domain::{Email, ThresholdChange, Ticker};
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::users;
use tickermesh_core::{now_unix_ms, Context, Error, Result};

fn threshold_change(
    field: &'static str,
    change: Option<v1::ThresholdChange>,
) -> Result<ThresholdChange> {
    match change.and_then(|c| c.change) {
        None => Ok(ThresholdChange::Keep),
        Some(Change::Set(price)) => Ok(ThresholdChange::Set(price)),
        Some(Change::Clear(true)) => Ok(ThresholdChange::Clear),
        Some(Change::Clear(false)) => Err(Error::invalid(field, "clear must be true when given")),
    }
}

/// The UpdateUser command.
pub struct Update;

#[async_trait::async_trait]
impl Command for Update {
    type Request = UpdateUserRequest;
    type Response = UpdateUserResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        let ticker = request
            .ticker
            .as_deref()
            .map(|t| Ticker::parse("ticker", t))
            .transpose()?;
        let watch = request
            .watch
            .as_deref()
            .map(|t| Ticker::parse("watch", t))
            .transpose()?;
        let min = threshold_change("min_price", request.min_price)?;
        let max = threshold_change("max_price", request.max_price)?;
        call.authorize(&email).await?;
        let backend = call.ctx.store.backend();
        call.once(move |conn| {
            Box::pin(async move {
                let user = users::lock(conn, backend, &email, watch.as_ref()).await?;
                // Validated against the stored values: a new min must stay below the kept max.
                let thresholds = users::thresholds_of(&user)?.apply(min, max)?;
                let ticker = match ticker {
                    Some(t) => t,
                    None => Ticker::parse("ticker", &user.ticker)?,
                };
                let user =
                    users::update_subscription(conn, &user, &ticker, thresholds, now_unix_ms())
                        .await?;
                Ok(UpdateUserResponse {
                    user: Some(user.into()),
                })
            })
        })
        .await
    }
}

pub async fn router(ctx: Arc<Context>) -> Router {
    let commands = UserCommandsService {
        update: serves(Update),
        ..UserCommandsService::new(ctx)
    };
    GrpcApp::new().service(commands.server()).router().await
}
