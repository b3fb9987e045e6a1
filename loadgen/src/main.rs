//! `switchyard-bench`: parses the command line, runs one scenario against a
//! running coordinator, prints the table and writes the JSON.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use switchyard_loadgen::args::BenchArgs;
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = BenchArgs::parse();
    if let Err(message) = switchyard_loadgen::check_args(&args) {
        BenchArgs::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit();
    }
    let json = args.json.clone();
    let report = switchyard_loadgen::run(args)
        .await
        .context("the benchmark failed")?;
    print!("{}", report.table());
    if let Some(path) = json {
        report.write_json(&path)?;
    }
    if report.timed_out {
        anyhow::bail!("the run hit --timeout before it finished; the figures are partial");
    }
    Ok(())
}
