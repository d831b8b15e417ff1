//! The update function: `UserCommands/UpdateUser`. Changes a watch's ticker and sets, replaces
//! or clears either threshold, its move rule and its cooldown, and the user's time zone and
//! quiet hours, in one call; what the request does not mention stays as it is. The watch is
//! the user's only one, or the one `watch` names; a change to the user alone needs neither.
//! A watch moved to a ticker that has no quote yet asks collect for its first price, after the
//! commit, as AddWatch does.

use std::sync::{Arc, OnceLock};

use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{self, quiet_hours_change, UpdateUserRequest, UpdateUserResponse};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::domain::{
    Cooldown, Email, MovePercent, QuietHours, ThresholdChange, Ticker, ZoneName, MOVE_FIELD,
    QUIET_HOURS_FIELD, TIME_ZONE_FIELD,
};
use tickermesh_core::events::collect_request::CollectRequests;
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::users::{self, Which};
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

/// What an update does to the quiet hours.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QuietChange {
    Keep,
    Set(QuietHours),
    Clear,
}

fn quiet_change(change: Option<v1::QuietHoursChange>) -> Result<QuietChange> {
    match change.and_then(|c| c.change) {
        None => Ok(QuietChange::Keep),
        Some(quiet_hours_change::Change::Set(q)) => {
            QuietHours::parse(&q.start, &q.end).map(QuietChange::Set)
        }
        Some(quiet_hours_change::Change::Clear(true)) => Ok(QuietChange::Clear),
        Some(quiet_hours_change::Change::Clear(false)) => Err(Error::invalid(
            QUIET_HOURS_FIELD,
            "clear must be true when given",
        )),
    }
}

/// The UpdateUser command; the field, when set, asks collect for the first price of the
/// ticker a watch moved to, after the commit.
pub struct Update(pub Option<Arc<CollectRequests>>);

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
        let moved = threshold_change(MOVE_FIELD, request.move_percent)?;
        if let ThresholdChange::Set(v) = moved {
            MovePercent::parse(v)?;
        }
        let cooldown = request.cooldown_seconds.map(Cooldown::parse).transpose()?;
        let zone = request
            .time_zone
            .as_deref()
            .map(|z| ZoneName::parse(TIME_ZONE_FIELD, z))
            .transpose()?;
        let quiet = quiet_change(request.quiet_hours)?;
        // A request about the user alone leaves its watches as they are, so it needs no choice
        // of watch; any other (an empty one too, as before these settings) is about a watch.
        let about_user = zone.is_some() || quiet != QuietChange::Keep;
        let about_watch = ticker.is_some()
            || [min, max, moved]
                .iter()
                .any(|c| *c != ThresholdChange::Keep)
            || cooldown.is_some()
            || !about_user;
        call.authorize(&email).await?;
        let backend = call.ctx.store.backend();
        let ctx = call.ctx;
        // Set inside the transaction, read after its commit: the ticker the watch moved to.
        // Left unset by a repeat of the key (its stored answer): the first call asked.
        let moved_to = Arc::new(OnceLock::new());
        let to_ask = moved_to.clone();
        let response = call
            .once(move |conn| {
                Box::pin(async move {
                    let which = match (&watch, about_watch) {
                        (Some(t), _) => Which::Named(t),
                        (None, true) => Which::Only,
                        (None, false) => Which::First,
                    };
                    let user = users::lock(conn, backend, &email, which).await?;
                    let watch = if about_watch {
                        // Validated against the stored values: a new min must stay below the kept
                        // max.
                        let thresholds = users::thresholds_of(&user)?.apply(min, max)?;
                        let ticker = match ticker {
                            Some(t) => t,
                            None => Ticker::parse("ticker", &user.ticker)?,
                        };
                        // Only for a confirmed address, which can read the price (see
                        // collect_request): tokens come with the confirmation, so every caller is
                        // one today; checked here all the same, where the rule is applied.
                        if ticker.as_str() != user.ticker && user.confirmed_at_ms.is_some() {
                            // Set once: this effect runs once.
                            let _ = to_ask.set(ticker.clone());
                        }
                        Some(users::WatchChange {
                            ticker,
                            thresholds,
                            move_percent: MovePercent::apply(user.move_percent, moved)?,
                            cooldown: cooldown.unwrap_or(Cooldown::from_ms(user.cooldown_ms)),
                        })
                    } else {
                        None
                    };
                    let quiet_hours = match quiet {
                        QuietChange::Keep => user.quiet_hours,
                        QuietChange::Set(q) => Some(q),
                        QuietChange::Clear => None,
                    };
                    let change = users::Change {
                        watch,
                        time_zone: zone,
                        quiet_hours,
                    };
                    let user = users::update(conn, &user, &change, now_unix_ms()).await?;
                    Ok(UpdateUserResponse {
                        user: Some(user.into()),
                    })
                })
            })
            .await?;
        if let (Some(first_prices), Some(ticker)) = (&self.0, moved_to.get()) {
            let source = "/tickermesh/update";
            first_prices.first_price(&ctx.store, ticker, source).await;
        }
        Ok(response)
    }
}

/// The function's whole HTTP surface, ready to serve on a listener; with `first_prices`, a
/// watch moved to a ticker that has no quote asks collect for its first price.
pub async fn router(ctx: Arc<Context>, first_prices: Option<Arc<CollectRequests>>) -> Router {
    let commands = UserCommandsService {
        update: serves(Update(first_prices)),
        ..UserCommandsService::new(ctx)
    };
    GrpcApp::new().service(commands.server()).router().await
}
