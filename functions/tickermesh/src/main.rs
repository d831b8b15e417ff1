//! `tickermesh up` starts the whole system locally.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tickermesh::config::{sqlite_url, UpConfig};
use tickermesh_core::config::DatabaseConfig;
use tickermesh_core::domain::Ticker;
use tickermesh_core::store::Store;

#[derive(Parser)]
#[command(
    name = "tickermesh",
    version,
    about = "tickermesh: stock-ticker watch and alert mesh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct DataDir {
    /// Folder of the SQLite file and the e-mail outbox.
    #[arg(long, env = "TICKERMESH_DATA_DIR", default_value = ".tickermesh")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run every function in this process on the embedded default (SQLite in .tickermesh/).
    /// Configured by TICKERMESH_* variables (see README); flags override them.
    Up {
        /// Address to listen on.
        #[arg(long, env = "TICKERMESH_HOST", default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port for gRPC and /metrics.
        #[arg(long, env = "TICKERMESH_PORT", default_value_t = 50051)]
        port: u16,
        #[command(flatten)]
        data: DataDir,
    },
    /// Write simulated quotes for a ticker into the local database (demos, benchmarks).
    Seed {
        #[arg(long)]
        ticker: String,
        #[arg(long, default_value_t = 100)]
        count: u32,
        /// Price the walk starts from.
        #[arg(long, default_value_t = 100.0)]
        start: f64,
        /// Also make this user, confirmed and watching the ticker, with a new access token.
        #[arg(long, requires = "token_file")]
        user: Option<String>,
        /// Where to write the user's access token (a new file, mode 0600).
        #[arg(long, requires = "user")]
        token_file: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tickermesh_core::telemetry::init();
    let result = match Cli::parse().command {
        Command::Up { host, port, data } => {
            let config = match UpConfig::from_env(SocketAddr::new(host, port), data.data_dir) {
                Ok(c) => c,
                Err(e) => return invalid_config(&e),
            };
            tickermesh::up::run(config, tickermesh_core::server::shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
        Command::Seed {
            ticker,
            count,
            start,
            user,
            token_file,
            data,
        } => {
            let database = match DatabaseConfig::from_env(&sqlite_url(&data.data_dir)) {
                Ok(d) => d,
                Err(e) => return invalid_config(&e),
            };
            let user = user.zip(token_file);
            seed(&database, &data.data_dir, &ticker, count, start, user).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickermesh: {e}");
            ExitCode::from(1)
        }
    }
}

fn invalid_config(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("tickermesh: {error}");
    ExitCode::from(2)
}

async fn seed(
    database: &DatabaseConfig,
    data_dir: &std::path::Path,
    ticker: &str,
    count: u32,
    start: f64,
    user: Option<(String, PathBuf)>,
) -> Result<(), String> {
    let ticker = Ticker::parse("--ticker", ticker).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(data_dir).map_err(|e| e.to_string())?;
    let store = Store::connect_to(database)
        .await
        .map_err(|e| e.to_string())?;
    let stored = tickermesh::seed::seed(&store, &ticker, count, start)
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    println!("stored {stored} simulated quotes for {ticker}");
    if let Some((email, path)) = user {
        let email =
            tickermesh_core::domain::Email::parse("--user", &email).map_err(|e| e.to_string())?;
        let store = Store::connect_to(database)
            .await
            .map_err(|e| e.to_string())?;
        let token = tickermesh::seed::seed_user(&store, &email, &ticker)
            .await
            .map_err(|e| e.to_string())?;
        store.close().await;
        tickermesh::seed::write_token_file(&path, &token.reveal())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "{email} is confirmed and watches {ticker}; its access token is in {}",
            path.display()
        );
    }
    Ok(())
}
