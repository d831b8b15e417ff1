//! One function per subcommand: build the request, call with retries, say what came back.

use serde_json::json;
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{self};
use tonic::transport::Channel;

use crate::cli::{Cli, Command, RegisterArgs, StatusArgs, UpdateArgs};
use crate::client::{channel, ClientError, Retry};
use crate::output::{self, quote_json, time, Output};
use crate::status::{MetricsSource, Report};

/// What every call of one invocation shares.
struct Calls {
    retry: Retry,
    commands: UserCommandsClient<Channel>,
    queries: TickerQueriesClient<Channel>,
    /// One key per logical command, reused by every retry of it.
    key: String,
}

impl Calls {
    /// A command: it carries the invocation's idempotency key on every try.
    async fn command<M, T, F, Fut>(&self, message: &M, rpc: F) -> Result<T, ClientError>
    where
        M: Clone,
        F: Fn(UserCommandsClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.retry
            .call(&self.commands, message, Some(&self.key), rpc)
            .await
    }

    async fn query<M, T, F, Fut>(&self, message: &M, rpc: F) -> Result<T, ClientError>
    where
        M: Clone,
        F: Fn(TickerQueriesClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.retry.call(&self.queries, message, None, rpc).await
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
    };
    let out = match cli.command {
        Command::Register(args) => register(&calls, args).await?,
        Command::Update(args) => update(&calls, args).await?,
        Command::Delete { email } => delete(&calls, email).await?,
        Command::Latest { email } => latest(&calls, email).await?,
        Command::Average { email, count } => average(&calls, email, count).await?,
        Command::History { email, limit } => history(&calls, email, limit).await?,
        Command::Bench(args) => return crate::bench::run(&cli.endpoint, args).await,
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
    };
    let resp = calls
        .command(&msg, |mut c, r| async move { c.register_user(r).await })
        .await?;
    Ok(output::user("registered", resp.user))
}

async fn update(calls: &Calls, args: UpdateArgs) -> Result<Output, ClientError> {
    let msg = v1::UpdateUserRequest {
        email: args.email,
        ticker: args.ticker,
        min_price: change(args.min, args.clear_min),
        max_price: change(args.max, args.clear_max),
    };
    let resp = calls
        .command(&msg, |mut c, r| async move { c.update_user(r).await })
        .await?;
    Ok(output::user("updated", resp.user))
}

async fn delete(calls: &Calls, email: String) -> Result<Output, ClientError> {
    let msg = v1::DeleteUserRequest { email };
    let resp = calls
        .command(&msg, |mut c, r| async move { c.delete_user(r).await })
        .await?;
    Ok(Output::new(
        format!("deleted {}", resp.email),
        json!({ "deleted": resp.email }),
    ))
}

async fn latest(calls: &Calls, email: String) -> Result<Output, ClientError> {
    let msg = v1::GetLatestValueRequest { email };
    let resp = calls
        .query(&msg, |mut c, r| async move { c.get_latest_value(r).await })
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

async fn average(calls: &Calls, email: String, count: u32) -> Result<Output, ClientError> {
    let msg = v1::GetAverageValueRequest { email, count };
    let r = calls
        .query(&msg, |mut c, r| async move { c.get_average_value(r).await })
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

async fn history(calls: &Calls, email: String, limit: u32) -> Result<Output, ClientError> {
    let msg = v1::GetHistoryRequest { email, limit };
    let r = calls
        .query(&msg, |mut c, r| async move { c.get_history(r).await })
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
