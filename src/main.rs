use anyhow::Context;
use clap::{Parser, Subcommand};
use eventlens::analysis::report::Report;
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::Store;
use std::path::PathBuf;
use std::process::ExitCode;

// Parsing allocates many small short-lived values on several threads; mimalloc handles that
// pattern far better than the system allocator (measured: see the engine issue note).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the built-in simulator of the reference scenario and write what it produces.
    Demo(DemoArgs),
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Write one run to this file (see --format, --records, --orders).
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Format of --write: capture (eventlens capture, JSON Lines), otlp, jaeger.
    #[arg(long, default_value = "capture")]
    format: String,
    /// For a capture: stop after this many lines (records), running the simulation as long
    /// as needed (for benchmark files; constant memory).
    #[arg(long)]
    records: Option<u64>,
    /// Orders in the run (default: the reference run's 600).
    #[arg(long)]
    orders: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// No injected defects.
    #[arg(long)]
    clean: bool,
    /// Write the sample traces, per-defect runs and their ground truth into this folder.
    #[arg(long, value_name = "DIR")]
    samples: Option<PathBuf>,
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
        Some(Command::Demo(args)) => demo(args),
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
    let profile = std::env::var_os("EVENTLENS_PROFILE").is_some();
    let t0 = std::time::Instant::now();
    let mut store = Store::new();
    let progress = LoadProgress::default();
    let mut failures = Vec::new();
    for f in files {
        if let Err(e) = load_path(&mut store, f, &progress) {
            failures.push(e.to_string());
        }
    }
    let t_load = t0.elapsed();
    for f in &failures {
        eprintln!("eventlens: {f}");
    }
    if store.inputs.iter().all(|i| i.records == 0) {
        if failures.is_empty() {
            eprintln!(
                "eventlens: no events in {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return Ok(ExitCode::from(1));
    }
    store.finalize();
    let t_finalize = t0.elapsed();
    let report = Report::build_with(&store, cfg, analysis);
    if profile {
        let [split, parse, add] = eventlens::ingest::lines::phase_times();
        eprintln!(
            "profile: load {t_load:?} (split {split:?}, parse {parse:?}, add {add:?}), finalize {:?}, report {:?}",
            t_finalize - t_load,
            t0.elapsed() - t_finalize
        );
    }
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

fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    use eventlens::sim::{SimConfig, Simulator, write};
    use std::io::{BufWriter, Write};
    if let Some(dir) = &args.samples {
        eventlens::sim::samples::write_samples(dir)
            .with_context(|| format!("writing samples to {}", dir.display()))?;
        eprintln!("wrote sample traces to {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(path) = &args.write else {
        anyhow::bail!(
            "nothing to do: give --write FILE or --samples DIR (the live demo is the GUI: run eventlens without arguments)"
        );
    };
    let mut cfg = if args.clean {
        SimConfig::clean()
    } else {
        SimConfig::reference()
    };
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(o) = args.orders {
        cfg.orders = o;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    match (args.format.as_str(), args.records) {
        ("capture", Some(n)) => {
            cfg.orders = usize::MAX;
            for rec in Simulator::new(cfg).take(n as usize) {
                writeln!(w, "{}", rec.line)?;
            }
        }
        ("capture", None) => write::write_capture(&Simulator::new(cfg).run(), &mut w)?,
        ("otlp", _) => write::write_otlp(&Simulator::new(cfg).run(), &mut w)?,
        ("jaeger", _) => write::write_jaeger(&Simulator::new(cfg).run(), &mut w)?,
        (other, _) => anyhow::bail!("unknown --format {other:?}: use capture, otlp or jaeger"),
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}
