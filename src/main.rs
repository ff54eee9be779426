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
        /// Exit with code 3 if a finding matches: kinds and/or a minimum severity
        /// (`duplicate-processing,storm`, `warning`).
        #[arg(long, value_name = "LIST")]
        fail_on: Option<String>,
        /// Skip latency analysis and findings (the topology only).
        #[arg(long)]
        no_findings: bool,
        #[command(flatten)]
        thresholds: eventlens::analysis::config::AnalysisFlags,
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
        Some(Command::Analyze {
            files,
            json,
            fail_on,
            no_findings,
            thresholds,
        }) => {
            let fail_on = fail_on
                .as_deref()
                .map(eventlens::analysis::FailOn::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let (cfg, _) = thresholds.resolve(files.first().map(PathBuf::as_path))?;
            analyze(&files, json, &cfg, !no_findings, fail_on.as_ref())
        }
        None => anyhow::bail!("the GUI is not built yet; use `eventlens analyze FILE`"),
    }
}

fn analyze(
    files: &[PathBuf],
    json: bool,
    cfg: &eventlens::analysis::AnalysisConfig,
    analysis: bool,
    fail_on: Option<&eventlens::analysis::FailOn>,
) -> anyhow::Result<ExitCode> {
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
    let report = Report::build_with(&store, cfg, analysis);
    if json {
        let out = serde_json::to_string_pretty(&report).context("serializing the report")?;
        println!("{out}");
    } else {
        print!("{}", report.to_text());
    }
    if let Some(f) = fail_on {
        let hits = report.findings.iter().filter(|x| x.matches(f)).count();
        if hits > 0 {
            eprintln!("eventlens: {hits} finding(s) match --fail-on");
            return Ok(ExitCode::from(3));
        }
    }
    Ok(ExitCode::SUCCESS)
}
