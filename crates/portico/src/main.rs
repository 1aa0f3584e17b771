//! `portico`: one binary that is a whole API manager node. This crate only parses the command
//! line and wires the components together; each component lives in its own crate.
#![forbid(unsafe_code)]

mod cli;
mod init;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let cli = cli::Cli::parse();
    match cli::run(cli, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<portico_config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
