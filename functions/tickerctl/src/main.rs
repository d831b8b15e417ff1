//! `tickerctl`: the command-line client of tickermesh.

mod alerts;
mod bench;
mod chart;
mod cli;
mod client;
mod commands;
mod outbox;
mod output;
mod status;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickerctl: {e}");
            ExitCode::from(1)
        }
    }
}
