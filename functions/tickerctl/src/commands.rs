//! One function per subcommand: build the request, call with retries, say what came back.

use serde_json::json;
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{self};
use tonic::transport::Channel;

use crate::cli::{
    Cli, Command, ConfirmArgs, QuietSpan, RegisterArgs, StatusArgs, UpdateArgs, WatchCommand,
};
use crate::client::{channel, ClientError, Meta, Retry};
use crate::output::{self, quote_json, time, Output};
use crate::status::{MetricsSource, Report};
use crate::tokens::{config_dir, Tokens};

/// What every call of one invocation shares.
struct Calls {
    retry: Retry,
    commands: UserCommandsClient<Channel>,
    queries: TickerQueriesClient<Channel>,
    /// One key per logical command, reused by every retry of it.
    key: String,
    endpoint: String,
    /// `--token` / `TICKERMESH_TOKEN`: wins over the token file.
    token: Option<String>,
}

impl Calls {
    /// A command: it carries the invocation's idempotency key on every try, and the token
    /// about `email` when given one.
    async fn command<M, T, F, Fut>(
        &self,
        message: &M,
        token: Option<&str>,
        rpc: F,
    ) -> Result<T, ClientError>
    where
        M: Clone,
        F: Fn(UserCommandsClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let meta = Meta {
            idempotency_key: Some(&self.key),
            token,
        };
        self.retry.call(&self.commands, message, meta, rpc).await
    }

    async fn query<M, T, F, Fut>(
        &self,
        message: &M,
        token: Option<&str>,
        rpc: F,
    ) -> Result<T, ClientError>
    where
        M: Clone,
        F: Fn(TickerQueriesClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let meta = Meta {
            idempotency_key: None,
            token,
        };
        self.retry.call(&self.queries, message, meta, rpc).await
    }

    /// The token for calls about `email`: the flag or variable, else the stored one, else none
    /// (the server then answers UNAUTHENTICATED, and [`explain`] says what to do).
    fn token_for(&self, email: &str) -> Result<Option<String>, ClientError> {
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        match config_dir() {
            Some(dir) => Ok(Tokens::load(&dir)?
                .get(&self.endpoint, email)
                .map(str::to_owned)),
            None => Ok(None),
        }
    }

    /// A call about `email` with its token: an UNAUTHENTICATED answer says how to get one.
    /// A query about `email`'s data, with its token ([`Self::owned`]).
    async fn read<M, T, F, Fut>(&self, email: &str, message: &M, rpc: F) -> Result<T, ClientError>
    where
        M: Clone,
        F: Fn(TickerQueriesClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.owned(email, |token| async move {
            self.query(message, token.as_deref(), rpc).await
        })
        .await
    }

    async fn owned<T, Fut>(
        &self,
        email: &str,
        call: impl FnOnce(Option<String>) -> Fut,
    ) -> Result<T, ClientError>
    where
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let token = self.token_for(email)?;
        let had_token = token.is_some();
        call(token).await.map_err(|e| explain(e, email, had_token))
    }
}

/// UNAUTHENTICATED with a hint: how to get a token for `email`.
fn explain(error: ClientError, email: &str, had_token: bool) -> ClientError {
    match error {
        ClientError::Rpc(status) if status.code() == tonic::Code::Unauthenticated => {
            let hint = if had_token {
                format!(
                    "the token for {email} is not valid any more; `tickerctl request-access {email}` \
                     e-mails a new code"
                )
            } else {
                format!(
                    "no access token for {email} at this endpoint; `tickerctl confirm {email} <code>` \
                     stores one (a new code: `tickerctl request-access {email}`)"
                )
            };
            ClientError::Rpc(tonic::Status::unauthenticated(format!(
                "{} ({hint})",
                status.message()
            )))
        }
        other => other,
    }
}

pub async fn run(cli: Cli) -> Result<(), ClientError> {
    let retry = Retry {
        retries: cli.retries,
        timeout: cli.timeout,
    };
    let channel = channel(&cli.endpoint, cli.timeout)?;
    let calls = Calls {
        retry,
        commands: UserCommandsClient::new(channel.clone()),
        queries: TickerQueriesClient::new(channel),
        key: uuid::Uuid::new_v4().to_string(),
        endpoint: cli.endpoint.clone(),
        token: cli.token.clone().filter(|t| !t.trim().is_empty()),
    };
    let out = match cli.command {
        Command::Register(args) => register(&calls, args).await?,
        Command::Confirm(args) => confirm(&calls, args).await?,
        Command::RequestAccess { email } => request_access(&calls, email).await?,
        Command::Update(args) => update(&calls, args).await?,
        Command::Delete { email } => delete(&calls, email).await?,
        Command::Watch(WatchCommand::Add(args)) => watch_add(&calls, args).await?,
        Command::Watch(WatchCommand::Remove { email, ticker }) => {
            watch_remove(&calls, email, ticker).await?
        }
        Command::Watch(WatchCommand::List { email }) => watch_list(&calls, email).await?,
        Command::Latest { email, ticker } => latest(&calls, email, ticker).await?,
        Command::Average {
            email,
            count,
            ticker,
        } => average(&calls, email, count, ticker).await?,
        Command::History {
            email,
            limit,
            ticker,
        } => history(&calls, email, limit, ticker).await?,
        Command::Alerts {
            email,
            limit,
            ticker,
        } => alerts(&calls, email, limit, ticker).await?,
        Command::Bench(args) => {
            return crate::bench::run(&cli.endpoint, cli.token.as_deref(), args).await
        }
        Command::Status(args) => {
            let report = status(&cli.endpoint, cli.timeout, args).await?;
            Output::new(report.text(), json!(report)).print(cli.json);
            return if report.healthy {
                Ok(())
            } else {
                Err(ClientError::Unhealthy)
            };
        }
    };
    out.print(cli.json);
    Ok(())
}

async fn register(calls: &Calls, args: RegisterArgs) -> Result<Output, ClientError> {
    let msg = v1::RegisterUserRequest {
        email: args.email,
        ticker: args.ticker,
        min_price: args.min,
        max_price: args.max,
        move_percent: args.move_percent,
        cooldown_seconds: args.cooldown,
    };
    let resp = calls
        .command(
            &msg,
            None,
            |mut c, r| async move { c.register_user(r).await },
        )
        .await?;
    let mut out = output::user("registered", resp.user);
    let email = out.json["email"].as_str().unwrap_or_default().to_owned();
    let until = time(resp.code_expires_at_unix_ms);
    out.text.push_str(&format!(
        "\na confirmation code was e-mailed to {email} (valid until {until}); \
         confirm with `tickerctl confirm {email} <code>` to start the alerts"
    ));
    out.json["confirmed"] = json!(false);
    out.json["code_expires_at"] = json!(until);
    Ok(out)
}

async fn confirm(calls: &Calls, args: ConfirmArgs) -> Result<Output, ClientError> {
    let code = match (&args.code, &args.from_outbox) {
        (Some(code), _) => code.clone(),
        (None, Some(dir)) => crate::outbox::code_from_outbox(dir, &args.email)?,
        (None, None) => {
            return Err(ClientError::Usage(
                "give the code, or --from-outbox <dir>".into(),
            ))
        }
    };
    let msg = v1::ConfirmEmailRequest {
        email: args.email.clone(),
        code,
    };
    let resp = calls
        .command(
            &msg,
            None,
            |mut c, r| async move { c.confirm_email(r).await },
        )
        .await?;
    let user = resp.user.unwrap_or_default();
    let mut text = format!(
        "confirmed {}: alerts for {} are on",
        user.email, user.ticker
    );
    let mut json = json!({ "confirmed": user.email, "ticker": user.ticker });
    if !args.no_store {
        let dir = config_dir().ok_or_else(|| {
            ClientError::Usage(
                "no config folder (neither XDG_CONFIG_HOME nor HOME is set) to keep the token in; \
                 use --print-token --no-store"
                    .into(),
            )
        })?;
        let mut tokens = Tokens::load(&dir)?;
        tokens.set(&calls.endpoint, &user.email, &resp.access_token);
        let path = tokens.save(&dir)?;
        text.push_str(&format!("\naccess token stored in {}", path.display()));
        json["token_file"] = json!(path.display().to_string());
    }
    if args.print_token {
        text.push_str(&format!("\naccess token: {}", resp.access_token));
        json["access_token"] = json!(resp.access_token);
    }
    Ok(Output::new(text, json))
}

async fn request_access(calls: &Calls, email: String) -> Result<Output, ClientError> {
    let msg = v1::RequestAccessRequest {
        email: email.clone(),
    };
    let resp = calls
        .command(
            &msg,
            None,
            |mut c, r| async move { c.request_access(r).await },
        )
        .await?;
    let until = time(resp.code_expires_at_unix_ms);
    Ok(Output::new(
        format!(
            "if {email} is registered, a code is on its way (valid until {until}); \
             `tickerctl confirm {email} <code>` replaces the old token"
        ),
        json!({ "email": email, "code_expires_at": until }),
    ))
}

async fn update(calls: &Calls, args: UpdateArgs) -> Result<Output, ClientError> {
    let msg = v1::UpdateUserRequest {
        email: args.email,
        ticker: args.ticker,
        min_price: change(args.min, args.clear_min),
        max_price: change(args.max, args.clear_max),
        watch: args.watch,
        move_percent: change(args.move_percent, args.clear_move),
        cooldown_seconds: args.cooldown,
        time_zone: args.time_zone,
        quiet_hours: quiet_change(args.quiet_hours, args.clear_quiet_hours),
    };
    let email = msg.email.clone();
    let resp = calls
        .owned(&email, |token| async move {
            calls
                .command(&msg, token.as_deref(), |mut c, r| async move {
                    c.update_user(r).await
                })
                .await
        })
        .await?;
    Ok(output::user("updated", resp.user))
}

async fn delete(calls: &Calls, email: String) -> Result<Output, ClientError> {
    let msg = v1::DeleteUserRequest {
        email: email.clone(),
    };
    let resp = calls
        .owned(&email, |token| async move {
            calls
                .command(&msg, token.as_deref(), |mut c, r| async move {
                    c.delete_user(r).await
                })
                .await
        })
        .await?;
    // The token died with the user: forget it.
    if let Some(dir) = config_dir() {
        let mut tokens = Tokens::load(&dir)?;
        if tokens.remove(&calls.endpoint, &resp.email) {
            tokens.save(&dir)?;
        }
    }
    Ok(Output::new(
        format!("deleted {}", resp.email),
        json!({ "deleted": resp.email }),
    ))
}

async fn watch_add(calls: &Calls, args: RegisterArgs) -> Result<Output, ClientError> {
    let msg = v1::AddWatchRequest {
        email: args.email,
        ticker: args.ticker,
        min_price: args.min,
        max_price: args.max,
        move_percent: args.move_percent,
        cooldown_seconds: args.cooldown,
    };
    let email = msg.email.clone();
    let resp = calls
        .owned(&email, |token| async move {
            calls
                .command(&msg, token.as_deref(), |mut c, r| async move {
                    c.add_watch(r).await
                })
                .await
        })
        .await?;
    let w = resp.watch.unwrap_or_default();
    let mut out = output::watch(&w);
    out.text = format!("{email} now watches {}", out.text);
    out.json["email"] = json!(email);
    Ok(out)
}

async fn watch_remove(calls: &Calls, email: String, ticker: String) -> Result<Output, ClientError> {
    let msg = v1::RemoveWatchRequest {
        email: email.clone(),
        ticker,
    };
    let resp = calls
        .owned(&email, |token| async move {
            calls
                .command(&msg, token.as_deref(), |mut c, r| async move {
                    c.remove_watch(r).await
                })
                .await
        })
        .await?;
    Ok(Output::new(
        format!("{} no longer watches {}", resp.email, resp.ticker),
        json!({ "email": resp.email, "removed": resp.ticker }),
    ))
}

async fn watch_list(calls: &Calls, email: String) -> Result<Output, ClientError> {
    let msg = v1::ListWatchesRequest {
        email: email.clone(),
    };
    let resp = calls
        .read(
            &email,
            &msg,
            |mut c, r| async move { c.list_watches(r).await },
        )
        .await?;
    Ok(output::watchlist(&email, &resp.watches))
}

async fn latest(
    calls: &Calls,
    email: String,
    ticker: Option<String>,
) -> Result<Output, ClientError> {
    let msg = v1::GetLatestValueRequest {
        email: email.clone(),
        ticker,
    };
    let resp = calls
        .read(&email, &msg, |mut c, r| async move {
            c.get_latest_value(r).await
        })
        .await?;
    let q = resp.quote.unwrap_or_default();
    Ok(Output::new(
        format!(
            "{} {:.4} {} at {}",
            q.ticker,
            q.price,
            q.currency,
            time(q.market_time_unix_ms)
        ),
        quote_json(&q),
    ))
}

async fn average(
    calls: &Calls,
    email: String,
    count: u32,
    ticker: Option<String>,
) -> Result<Output, ClientError> {
    let msg = v1::GetAverageValueRequest {
        email: email.clone(),
        count,
        ticker,
    };
    let r = calls
        .read(&email, &msg, |mut c, r| async move {
            c.get_average_value(r).await
        })
        .await?;
    let mut text = format!(
        "{} average of the last {} quotes: {:.4} {} ({} .. {})",
        r.ticker,
        r.count_used,
        r.average,
        r.currency,
        time(r.from_unix_ms),
        time(r.to_unix_ms)
    );
    if r.count_used < r.count_requested {
        text.push_str(&format!(
            "\nonly {} of the {} requested quotes exist",
            r.count_used, r.count_requested
        ));
    }
    Ok(Output::new(
        text,
        json!({
            "ticker": r.ticker, "average": r.average, "currency": r.currency,
            "count_requested": r.count_requested, "count_used": r.count_used,
            "from": time(r.from_unix_ms), "to": time(r.to_unix_ms),
        }),
    ))
}

async fn history(
    calls: &Calls,
    email: String,
    limit: u32,
    ticker: Option<String>,
) -> Result<Output, ClientError> {
    let msg = v1::GetHistoryRequest {
        email: email.clone(),
        limit,
        ticker,
    };
    let r = calls
        .read(
            &email,
            &msg,
            |mut c, r| async move { c.get_history(r).await },
        )
        .await?;
    // Oldest to newest, left to right.
    let prices: Vec<f64> = r.quotes.iter().rev().map(|q| q.price).collect();
    let mut text = format!("{} — {} quotes", r.ticker, r.quotes.len());
    if let (Some(first), Some(last)) = (r.quotes.last(), r.quotes.first()) {
        text.push_str(&format!(
            ", {} .. {}",
            time(first.market_time_unix_ms),
            time(last.market_time_unix_ms)
        ));
    }
    text.push('\n');
    text.push_str(&crate::chart::draw(&prices, 10, 60));
    Ok(Output::new(
        text,
        json!({ "ticker": r.ticker, "quotes": r.quotes.iter().map(quote_json).collect::<Vec<_>>() }),
    ))
}

async fn alerts(
    calls: &Calls,
    email: String,
    limit: u32,
    ticker: Option<String>,
) -> Result<Output, ClientError> {
    let msg = v1::ListAlertsRequest {
        email: email.clone(),
        limit,
        ticker,
    };
    let r = calls
        .read(
            &email,
            &msg,
            |mut c, r| async move { c.list_alerts(r).await },
        )
        .await?;
    Ok(crate::alerts::table(&email, &r.alerts))
}

/// The status report, read from the endpoint's metrics or the given Prometheus.
async fn status(
    endpoint: &str,
    timeout: std::time::Duration,
    args: StatusArgs,
) -> Result<Report, ClientError> {
    let source = match args.prometheus {
        Some(url) => MetricsSource::Prometheus { url, job: args.job },
        None => MetricsSource::Scrape(
            args.metrics
                .unwrap_or_else(|| format!("{}/metrics", endpoint.trim_end_matches('/'))),
        ),
    };
    crate::status::status(endpoint, &source, timeout).await
}

fn quiet_change(set: Option<QuietSpan>, clear: bool) -> Option<v1::QuietHoursChange> {
    use v1::quiet_hours_change::Change;
    let change = match (set, clear) {
        (Some(span), _) => Change::Set(v1::QuietHours {
            start: span.start,
            end: span.end,
        }),
        (None, true) => Change::Clear(true),
        (None, false) => return None,
    };
    Some(v1::QuietHoursChange {
        change: Some(change),
    })
}

fn change(set: Option<f64>, clear: bool) -> Option<v1::ThresholdChange> {
    match (set, clear) {
        (Some(price), _) => Some(v1::ThresholdChange {
            change: Some(Change::Set(price)),
        }),
        (None, true) => Some(v1::ThresholdChange {
            change: Some(Change::Clear(true)),
        }),
        (None, false) => None,
    }
}
