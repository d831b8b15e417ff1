//! `tickermesh up` starts the whole system locally.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tickermesh::up::{self, UpConfig};
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

#[derive(Subcommand)]
enum Command {
    /// Run every function in this process on the embedded default (SQLite in .tickermesh/).
    /// Configured by TICKERMESH_* variables (see README); flags override them.
    Up {
        /// Port for gRPC and /metrics [env: TICKERMESH_PORT, default 50051]
        #[arg(long)]
        port: Option<u16>,
        /// Folder for the SQLite file [env: TICKERMESH_DATA_DIR, default .tickermesh]
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
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
        /// Folder of the SQLite file [env: TICKERMESH_DATA_DIR, default .tickermesh]
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tickermesh_core::telemetry::init();
    let command = Cli::parse().command;
    let mut config = match UpConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tickermesh: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Up { port, data_dir } => {
            if let Some(port) = port {
                config.addr.set_port(port);
            }
            config.use_data_dir(data_dir);
            up::run(config, tickermesh_core::server::shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
        Command::Seed {
            ticker,
            count,
            start,
            data_dir,
        } => {
            config.use_data_dir(data_dir);
            seed(&config, &ticker, count, start).await
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

async fn seed(config: &UpConfig, ticker: &str, count: u32, start: f64) -> Result<(), String> {
    let ticker = Ticker::parse("--ticker", ticker).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
    let store = Store::connect(&config.database_url, &config.store)
        .await
        .map_err(|e| e.to_string())?;
    let stored = tickermesh::seed::seed(&store, &ticker, count, start)
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    println!("stored {stored} simulated quotes for {ticker}");
    Ok(())
}
