use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tickerctl",
    version,
    about = "Client for the tickermesh gRPC API"
)]
pub struct Cli {
    /// gRPC endpoint of the mesh (tickermesh up, or the cluster's ingress).
    #[arg(
        long,
        env = "TICKERMESH_ENDPOINT",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub endpoint: String,
    /// Deadline of each call, e.g. 5s or 500ms.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub timeout: Duration,
    /// Retries on UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED, with exponential backoff.
    /// Commands reuse their idempotency key on every retry, so a retry never acts twice.
    #[arg(long, default_value_t = 4, global = true)]
    pub retries: u32,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Access token to send (`authorization: Bearer …`) instead of the one `tickerctl confirm`
    /// stored for the e-mail. Prefer the variable: a flag shows in the process list.
    #[arg(long, env = "TICKERMESH_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Register an e-mail watching a ticker, with optional thresholds. The address gets an
    /// e-mail with a code: give it to `tickerctl confirm` to start the alerts.
    Register(RegisterArgs),
    /// Confirm an address with the code from its e-mail; the access token it gives is stored
    /// (tokens.json in the config folder, mode 0600) and sent on every later call about it.
    Confirm(ConfirmArgs),
    /// E-mail a new code to a registered address (a lost token, another machine); confirming it
    /// replaces the old token.
    RequestAccess { email: String },
    /// Change a watch's ticker, thresholds, move rule or cooldown, or the user's time zone or
    /// quiet hours; what you leave out stays as it is.
    Update(UpdateArgs),
    /// Delete a user.
    Delete { email: String },
    /// The user's watchlist: add, remove or list the tickers watched.
    #[command(subcommand)]
    Watch(WatchCommand),
    /// The latest price of the user's ticker.
    Latest {
        email: String,
        /// Which watched ticker (needed when the user watches several).
        #[arg(long)]
        ticker: Option<String>,
    },
    /// The average of the N most recent prices.
    Average {
        email: String,
        #[arg(long, short = 'n', default_value_t = 10)]
        count: u32,
        /// Which watched ticker (needed when the user watches several).
        #[arg(long)]
        ticker: Option<String>,
    },
    /// Recent prices, drawn as a chart.
    History {
        email: String,
        #[arg(long, default_value_t = 60)]
        limit: u32,
        /// Which watched ticker (needed when the user watches several).
        #[arg(long)]
        ticker: Option<String>,
    },
    /// The user's alerts, newest first: when, ticker, rule, price, threshold and what became
    /// of the e-mail (pending, sent, failed, suppressed, held).
    Alerts {
        email: String,
        /// How many at most (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only this ticker's alerts.
        #[arg(long)]
        ticker: Option<String>,
    },
    /// Health of every function, the last collect, the breaker, alerts and e-mails.
    /// Exits 1 when a function is down or unreachable.
    Status(StatusArgs),
    /// Load generator: C concurrent clients for T seconds; prints throughput and latency.
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RegisterArgs {
    pub email: String,
    pub ticker: String,
    /// Alert when the price falls below this.
    #[arg(long)]
    pub min: Option<f64>,
    /// Alert when the price rises above this.
    #[arg(long)]
    pub max: Option<f64>,
    /// Alert when the price has moved this many percent (more than 0, at most 100) up or down
    /// from the previous close.
    #[arg(long = "move", value_name = "PERCENT")]
    pub move_percent: Option<f64>,
    /// At most one alert e-mail for the watch per this long: 30m, 1h, 0 for none (at most 7
    /// days).
    #[arg(long, value_name = "DURATION", value_parser = cooldown_seconds)]
    pub cooldown: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum WatchCommand {
    /// Watch one more ticker, with optional thresholds.
    Add(RegisterArgs),
    /// Stop watching a ticker (not the last one: `tickerctl delete` removes the user).
    Remove { email: String, ticker: String },
    /// Every watched ticker: thresholds, alert state and the latest price.
    List { email: String },
}

#[derive(Args, Debug, Clone)]
pub struct ConfirmArgs {
    pub email: String,
    /// The code from the e-mail (spaces and dashes are ignored).
    #[arg(
        required_unless_present = "from_outbox",
        conflicts_with = "from_outbox"
    )]
    pub code: Option<String>,
    /// Read the code from the newest confirmation e-mail to the address in this outbox folder
    /// (`tickermesh up` writes its e-mails to `.tickermesh/outbox`): for the local demo.
    #[arg(long, value_name = "DIR")]
    pub from_outbox: Option<std::path::PathBuf>,
    /// Also print the access token (it is stored either way; shown nowhere else).
    #[arg(long)]
    pub print_token: bool,
    /// Do not store the token (with --print-token, for scripts that keep it themselves).
    #[arg(long, requires = "print_token")]
    pub no_store: bool,
}

#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    pub email: String,
    /// Which watch to change, by its ticker (needed when the user watches several).
    #[arg(long, value_name = "TICKER")]
    pub watch: Option<String>,
    /// The new ticker of that watch.
    #[arg(long)]
    pub ticker: Option<String>,
    #[arg(long, conflicts_with = "clear_min")]
    pub min: Option<f64>,
    #[arg(long, conflicts_with = "clear_max")]
    pub max: Option<f64>,
    /// Remove the lower threshold.
    #[arg(long)]
    pub clear_min: bool,
    /// Remove the upper threshold.
    #[arg(long)]
    pub clear_max: bool,
    /// Alert on a move of this many percent from the previous close (see `register --move`).
    #[arg(long = "move", value_name = "PERCENT", conflicts_with = "clear_move")]
    pub move_percent: Option<f64>,
    /// Remove the move rule.
    #[arg(long)]
    pub clear_move: bool,
    /// The watch's cooldown between alert e-mails: 30m, 1h, 0 for none.
    #[arg(long, value_name = "DURATION", value_parser = cooldown_seconds)]
    pub cooldown: Option<u32>,
    /// The user's IANA time zone (Europe/Paris), in which the quiet hours are read.
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// Hold alert e-mails from START to END local time (22:00-07:00) and mail them as one
    /// digest when the quiet hours end.
    #[arg(
        long,
        value_name = "START-END",
        value_parser = quiet_hours,
        conflicts_with = "clear_quiet_hours"
    )]
    pub quiet_hours: Option<QuietSpan>,
    /// Remove the quiet hours: alerts are mailed at once again.
    #[arg(long)]
    pub clear_quiet_hours: bool,
}

/// `--cooldown`: a duration in whole seconds ("30m", "1h 30m", "45s"), or 0.
fn cooldown_seconds(raw: &str) -> Result<u32, String> {
    let raw = raw.trim();
    if raw.parse::<u64>() == Ok(0) {
        return Ok(0);
    }
    let d = humantime::parse_duration(raw)
        .map_err(|e| format!("{e}; give a duration such as 30m, 1h or 90s, or 0"))?;
    if d.subsec_nanos() != 0 {
        return Err("a cooldown is whole seconds".into());
    }
    u32::try_from(d.as_secs()).map_err(|_| "too long (at most 7 days)".into())
}

/// Quiet hours as `--quiet-hours` takes them: local start and end times, `HH:MM-HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietSpan {
    pub start: String,
    pub end: String,
}

/// `--quiet-hours`: the shape only; the server checks the times.
fn quiet_hours(raw: &str) -> Result<QuietSpan, String> {
    match raw.trim().split_once('-') {
        Some((start, end)) if !start.trim().is_empty() && !end.trim().is_empty() => Ok(QuietSpan {
            start: start.trim().to_owned(),
            end: end.trim().to_owned(),
        }),
        _ => Err(format!(
            "{raw:?}: give START-END in local time, e.g. 22:00-07:00"
        )),
    }
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Metrics to read (default: the endpoint's /metrics, which the local mesh serves).
    #[arg(long, conflicts_with = "prometheus")]
    pub metrics: Option<String>,
    /// Read the metrics from this Prometheus server instead: the cluster's, e.g.
    /// http://127.0.0.1:9090 after `kubectl -n tickermesh port-forward svc/tickermesh-prometheus 9090`.
    #[arg(long)]
    pub prometheus: Option<String>,
    /// The scrape job of the functions in that Prometheus.
    #[arg(long, default_value = "tickermesh")]
    pub job: String,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value_t = BenchMethod::Latest)]
    pub method: BenchMethod,
    /// Concurrent clients.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub concurrency: usize,
    /// How long to drive load.
    #[arg(long, short = 'd', default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// HTTP/2 connections shared by the clients.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Ticker of the users the benchmark registers (seed its quotes with `tickermesh seed`).
    #[arg(long, default_value = "BENCH")]
    pub ticker: String,
    /// For `latest`: query this confirmed user (its token from --token, TICKERMESH_TOKEN or the
    /// token file; `tickermesh seed --user` makes one locally).
    #[arg(long)]
    pub email: Option<String>,
    /// For `latest` without --email: register a fresh user and confirm it with the code from
    /// this local outbox folder.
    #[arg(long, value_name = "DIR", conflicts_with = "email")]
    pub from_outbox: Option<std::path::PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMethod {
    /// GetLatestValue of one registered user.
    Latest,
    /// RegisterUser of fresh e-mails.
    Register,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldowns_are_whole_seconds() {
        assert_eq!(cooldown_seconds("0"), Ok(0));
        assert_eq!(cooldown_seconds("30m"), Ok(1800));
        assert_eq!(cooldown_seconds("1h 30m"), Ok(5400));
        assert_eq!(cooldown_seconds("7days"), Ok(604_800));
        for bad in ["30", "1.5s", "500ms", "soon", "", "-1h"] {
            assert!(cooldown_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quiet_hours_are_start_dash_end() {
        let want = QuietSpan {
            start: "22:00".into(),
            end: "07:00".into(),
        };
        assert_eq!(quiet_hours("22:00-07:00"), Ok(want.clone()));
        assert_eq!(quiet_hours(" 22:00 - 07:00 "), Ok(want));
        for bad in ["22:00", "-07:00", "22:00-", ""] {
            assert!(quiet_hours(bad).is_err(), "{bad}");
        }
    }
}
