//! `tickerctl bench`: C concurrent clients call one method for T seconds over a few shared
//! HTTP/2 connections, then throughput and latency percentiles are printed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{ConfirmEmailRequest, GetLatestValueRequest, RegisterUserRequest};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::Code;

use crate::cli::{BenchArgs, BenchMethod};
use crate::client::{bearer_value, channel, code_name, ClientError};
use crate::tokens::{config_dir, Tokens};

/// How long `--from-outbox` waits for the confirmation e-mail.
const OUTBOX_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

/// A request carrying a fresh idempotency key, as real clients send commands.
fn keyed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(key) = uuid::Uuid::new_v4().to_string().parse() {
        request.metadata_mut().insert("idempotency-key", key);
    }
    request
}

/// The user `latest` queries and its token: `--email` with the given or stored token, or a
/// fresh user confirmed with the code from `--from-outbox`.
async fn bench_user(
    endpoint: &str,
    token: Option<&str>,
    args: &BenchArgs,
    ch: Channel,
    run_id: &str,
) -> Result<(String, String), ClientError> {
    if let Some(email) = &args.email {
        let stored = match (token, config_dir()) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(dir)) => Tokens::load(&dir)?.get(endpoint, email).map(str::to_owned),
            (None, None) => None,
        };
        let token = stored.ok_or_else(|| {
            ClientError::Usage(format!(
                "no access token for {email}: give --token (or TICKERMESH_TOKEN), or confirm it \
                 first with `tickerctl confirm`"
            ))
        })?;
        return Ok((email.clone(), token));
    }
    let Some(outbox) = &args.from_outbox else {
        return Err(ClientError::Usage(
            "--method latest needs a confirmed user: --email (with its token; `tickermesh seed \
             --user` makes one locally) or --from-outbox <dir> to confirm a fresh one"
                .into(),
        ));
    };
    let email = format!("bench-{run_id}@example.com");
    let mut commands = UserCommandsClient::new(ch);
    commands
        .register_user(keyed(RegisterUserRequest {
            email: email.clone(),
            ticker: args.ticker.clone(),
            min_price: None,
            max_price: None,
            ..Default::default()
        }))
        .await
        .map_err(ClientError::Rpc)?;
    let waited = Instant::now();
    let code = loop {
        match crate::outbox::code_from_outbox(outbox, &email) {
            Ok(code) => break code,
            Err(e) if waited.elapsed() >= OUTBOX_WAIT => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let token = commands
        .confirm_email(ConfirmEmailRequest {
            email: email.clone(),
            code,
        })
        .await
        .map_err(ClientError::Rpc)?
        .into_inner()
        .access_token;
    Ok((email, token))
}

pub async fn run(endpoint: &str, token: Option<&str>, args: BenchArgs) -> Result<(), ClientError> {
    if args.concurrency == 0 || args.connections == 0 {
        return Err(ClientError::Usage(
            "--concurrency and --connections must be at least 1".into(),
        ));
    }
    let channels = (0..args.connections)
        .map(|_| channel(endpoint, Duration::from_secs(5)))
        .collect::<Result<Vec<_>, _>>()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (email, authorization) = match args.method {
        BenchMethod::Latest => {
            let (email, token) =
                bench_user(endpoint, token, &args, channels[0].clone(), &run_id).await?;
            (email, Some(bearer_value(&token)?))
        }
        BenchMethod::Register => (String::new(), None),
    };

    let started = Instant::now();
    let deadline = started + args.duration;
    let workers: Vec<_> = (0..args.concurrency)
        .map(|worker| {
            let ch = channels[worker % channels.len()].clone();
            let ctx = Worker {
                method: args.method,
                email: email.clone(),
                authorization: authorization.clone(),
                ticker: args.ticker.clone(),
                prefix: format!("bench-{run_id}-{worker}"),
            };
            tokio::spawn(ctx.drive(ch, deadline))
        })
        .collect();
    let mut total = Tally::default();
    for w in workers {
        let t = w
            .await
            .map_err(|e| ClientError::Usage(format!("a worker failed: {e}")))?;
        total.latencies.extend(t.latencies);
        for (code, n) in t.errors {
            *total.errors.entry(code).or_default() += n;
        }
    }
    report(&args, started.elapsed(), total);
    Ok(())
}

struct Worker {
    method: BenchMethod,
    email: String,
    /// `Bearer <token>` of the user `latest` queries.
    authorization: Option<MetadataValue<Ascii>>,
    ticker: String,
    prefix: String,
}

impl Worker {
    async fn drive(self, ch: Channel, deadline: Instant) -> Tally {
        let mut queries = TickerQueriesClient::new(ch.clone());
        let mut commands = UserCommandsClient::new(ch);
        let mut tally = Tally::default();
        let mut n = 0u64;
        while Instant::now() < deadline {
            let t0 = Instant::now();
            let result = match self.method {
                BenchMethod::Latest => {
                    let mut request = tonic::Request::new(GetLatestValueRequest {
                        email: self.email.clone(),
                        ..Default::default()
                    });
                    if let Some(value) = &self.authorization {
                        request
                            .metadata_mut()
                            .insert("authorization", value.clone());
                    }
                    queries.get_latest_value(request).await.map(drop)
                }
                BenchMethod::Register => {
                    n += 1;
                    // As real clients send commands: each with its own idempotency key, so
                    // the server does the work of at-most-once too.
                    let request = keyed(RegisterUserRequest {
                        email: format!("{}-{n}@example.com", self.prefix),
                        ticker: self.ticker.clone(),
                        min_price: None,
                        max_price: Some(1000.0),
                        ..Default::default()
                    });
                    commands.register_user(request).await.map(drop)
                }
            };
            match result {
                Ok(()) => tally.latencies.push(t0.elapsed()),
                Err(status) => {
                    *tally.errors.entry(code_name(status.code())).or_default() += 1;
                    if status.code() == Code::Unavailable {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }
        tally
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(args: &BenchArgs, elapsed: Duration, mut total: Tally) {
    total.latencies.sort_unstable();
    let ok = total.latencies.len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "method={:?} concurrency={} connections={} duration={:.1}s",
        args.method,
        args.concurrency,
        args.connections,
        elapsed.as_secs_f64()
    );
    println!(
        "ok={ok} throughput={:.0} calls/s p50={:.3}ms p90={:.3}ms p99={:.3}ms max={:.3}ms",
        ok as f64 / elapsed.as_secs_f64(),
        ms(percentile(&total.latencies, 50.0)),
        ms(percentile(&total.latencies, 90.0)),
        ms(percentile(&total.latencies, 99.0)),
        ms(total.latencies.last().copied().unwrap_or_default()),
    );
    if !total.errors.is_empty() {
        println!("errors: {:?}", total.errors);
        if total.errors.contains_key("NotFound") && args.method == BenchMethod::Latest {
            println!(
                "(NotFound: the ticker has no quotes; seed some with `tickermesh seed --ticker {}`)",
                args.ticker
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
