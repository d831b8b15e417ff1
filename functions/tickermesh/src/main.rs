//! `tickermesh up` starts the whole system locally.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tickermesh::up::{self, UpConfig};

#[derive(Parser)]
#[command(name = "tickermesh", version, about = "tickermesh: stock-ticker watch and alert mesh")]
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
}

#[tokio::main]
async fn main() -> ExitCode {
    tickermesh_core::telemetry::init();
    let Command::Up { port, data_dir } = Cli::parse().command;
    let mut config = match UpConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tickermesh: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(port) = port {
        config.addr.set_port(port);
    }
    if let Some(dir) = data_dir {
        if std::env::var_os("TICKERMESH_DATABASE_URL").is_none() {
            config.database_url = up::sqlite_url(&dir);
        }
        config.data_dir = dir;
    }
    match up::run(config, tickermesh_core::server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickermesh: {e}");
            ExitCode::from(1)
        }
    }
}
