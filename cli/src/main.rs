//! The `switchyard` binary: parses the command line and runs it (see the
//! `switchyard_cli` library; exit codes in its `exit` module).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = switchyard_cli::args::Cli::parse();
    ExitCode::from(switchyard_cli::run(cli))
}
