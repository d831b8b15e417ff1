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
    /// Change the ticker or thresholds; what you leave out stays as it is.
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
