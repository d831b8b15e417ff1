//! One function per subcommand: build the request, call with retries, print.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{self, Quote, User};

use crate::cli::{Cli, Command};
use crate::client::{channel, ClientError, Retry};
use crate::status::MetricsSource;

pub async fn run(cli: Cli) -> Result<(), ClientError> {
    let retry = Retry {
        retries: cli.retries,
        timeout: cli.timeout,
    };
    let channel = channel(&cli.endpoint, cli.timeout)?;
    let commands = UserCommandsClient::new(channel.clone());
    let queries = TickerQueriesClient::new(channel.clone());
    // One key per logical command, reused by every retry of it.
    let key = uuid::Uuid::new_v4().to_string();
    let key = Some(key.as_str());
    let out = match cli.command {
        Command::Register {
            email,
            ticker,
            min,
            max,
        } => {
            let msg = v1::RegisterUserRequest {
                email,
                ticker,
                min_price: min,
                max_price: max,
            };
            let resp = retry
                .call(&commands, &msg, key, |mut c, r| async move {
                    c.register_user(r).await
                })
                .await?;
            user_output("registered", resp.user)
        }
        Command::Update {
            email,
            ticker,
            min,
            max,
            clear_min,
            clear_max,
        } => {
            let msg = v1::UpdateUserRequest {
                email,
                ticker,
                min_price: change(min, clear_min),
                max_price: change(max, clear_max),
            };
            let resp = retry
                .call(&commands, &msg, key, |mut c, r| async move {
                    c.update_user(r).await
                })
                .await?;
            user_output("updated", resp.user)
        }
        Command::Delete { email } => {
            let msg = v1::DeleteUserRequest { email };
            let resp = retry
                .call(&commands, &msg, key, |mut c, r| async move {
                    c.delete_user(r).await
                })
                .await?;
            Output::new(
                format!("deleted {}", resp.email),
                json!({ "deleted": resp.email }),
            )
        }
        Command::Latest { email } => {
            let msg = v1::GetLatestValueRequest { email };
            let resp = retry
                .call(&queries, &msg, None, |mut c, r| async move {
                    c.get_latest_value(r).await
                })
                .await?;
            let q = resp.quote.unwrap_or_default();
            Output::new(
                format!(
                    "{} {:.4} {} at {}",
                    q.ticker,
                    q.price,
                    q.currency,
                    time(q.market_time_unix_ms)
                ),
                quote_json(&q),
            )
        }
        Command::Average { email, count } => {
            let msg = v1::GetAverageValueRequest { email, count };
            let r = retry
                .call(&queries, &msg, None, |mut c, r| async move {
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
            Output::new(
                text,
                json!({
                    "ticker": r.ticker, "average": r.average, "currency": r.currency,
                    "count_requested": r.count_requested, "count_used": r.count_used,
                    "from": time(r.from_unix_ms), "to": time(r.to_unix_ms),
                }),
            )
        }
        Command::History { email, limit } => {
            let msg = v1::GetHistoryRequest { email, limit };
            let r = retry
                .call(&queries, &msg, None, |mut c, r| async move {
                    c.get_history(r).await
                })
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
            Output::new(
                text,
                json!({ "ticker": r.ticker, "quotes": r.quotes.iter().map(quote_json).collect::<Vec<_>>() }),
            )
        }
        Command::Bench(args) => return crate::bench::run(&cli.endpoint, args).await,
        Command::Status(args) => {
            let source =
                match args.prometheus {
                    Some(url) => MetricsSource::Prometheus { url, job: args.job },
                    None => MetricsSource::Scrape(args.metrics.unwrap_or_else(|| {
                        format!("{}/metrics", cli.endpoint.trim_end_matches('/'))
                    })),
                };
            let report = crate::status::status(&cli.endpoint, &source, cli.timeout).await?;
            let out = Output::new(report.text(), json!(report));
            print(&out, cli.json);
            return if report.healthy {
                Ok(())
            } else {
                Err(ClientError::Unhealthy)
            };
        }
    };
    print(&out, cli.json);
    Ok(())
}

fn print(out: &Output, json: bool) {
    if json {
        println!("{}", out.json);
    } else {
        println!("{}", out.text.trim_end());
    }
}

struct Output {
    text: String,
    json: Value,
}

impl Output {
    fn new(text: String, json: Value) -> Self {
        Self { text, json }
    }
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

fn user_output(verb: &str, user: Option<User>) -> Output {
    let u = user.unwrap_or_default();
    let bound = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |p| format!("{p}"));
    Output::new(
        format!(
            "{verb} {} watching {} (min {}, max {})",
            u.email,
            u.ticker,
            bound(u.min_price),
            bound(u.max_price)
        ),
        json!({
            "email": u.email, "ticker": u.ticker, "min_price": u.min_price, "max_price": u.max_price,
            "created_at": time(u.created_at_unix_ms), "updated_at": time(u.updated_at_unix_ms),
        }),
    )
}

fn quote_json(q: &Quote) -> Value {
    json!({
        "ticker": q.ticker, "price": q.price, "currency": q.currency,
        "market_time": time(q.market_time_unix_ms), "collected_at": time(q.collected_at_unix_ms),
    })
}

/// RFC 3339 in UTC.
pub(crate) fn time(unix_ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}
