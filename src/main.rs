use anyhow::Context;
use clap::{Parser, Subcommand};
use eventlens::analysis::report::Report;
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::Store;
use std::path::PathBuf;
use std::process::ExitCode;

/// eventlens: see the flows of event-driven and serverless systems.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Read captures and traces and print the topology, latencies and findings.
    Analyze {
        /// Capture or trace files (CloudEvents, eventlens capture, OTLP JSON, Jaeger, Zipkin,
        /// kcat -J), optionally gzip or zstd compressed.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the eventlens.analysis/v1 JSON document instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eventlens: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Analyze { files, json }) => analyze(&files, json),
        None => anyhow::bail!("the GUI is not built yet; use `eventlens analyze FILE`"),
    }
}

fn analyze(files: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let mut store = Store::new();
    let progress = LoadProgress::default();
    let mut failures = Vec::new();
    for f in files {
        if let Err(e) = load_path(&mut store, f, &progress) {
            failures.push(e.to_string());
        }
    }
    for f in &failures {
        eprintln!("eventlens: {f}");
    }
    if store.inputs.iter().all(|i| i.records == 0) {
        anyhow::bail!("no events could be read from {} input(s)", files.len());
    }
    store.finalize();
    let report = Report::build(&store);
    if json {
        let out = serde_json::to_string_pretty(&report).context("serializing the report")?;
        println!("{out}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
