use anyhow::Context;
use clap::{Parser, Subcommand};
use eventlens::analysis::report::Report;
use eventlens::ingest::LoadProgress;
use eventlens::model::Store;
use std::path::PathBuf;
use std::process::ExitCode;

// Parsing allocates many small short-lived values on several threads; mimalloc handles that
// pattern far better than the system allocator (measured: see the engine issue note). The
// store's very large columns are mapped and grown by remapping (see `memory`).
#[global_allocator]
static GLOBAL: eventlens::memory::Allocator = eventlens::memory::Allocator;

/// eventlens: see the flows of event-driven and serverless systems.
///
/// With no arguments the window opens on the built-in live demo; with files it opens them.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    gui: GuiArgs,
}

#[derive(clap::Args, Default)]
struct GuiArgs {
    /// Capture or trace files to open in the window (`-`: standard input, read to its
    /// end), or broker URLs to watch live
    /// (nats://, mqtt://, amqp://, redis://, over TLS tls://, mqtts://, amqps://, rediss://;
    /// see `eventlens record --help`), a webhook to listen on (webhook://127.0.0.1:8080/PATH;
    /// see `eventlens listen --help`), or a Server-Sent Events stream to read
    /// (sse+http://host:port/PATH, sse+https://...).
    files: Vec<PathBuf>,
    /// Render the window once the input is loaded (whatever it holds), save it as a PNG
    /// here, and exit: 1 when nothing could be read (the PNG shows why), 2 when no
    /// screenshot could be taken, e.g. still waiting after EVENTLENS_SCREENSHOT_TIMEOUT
    /// seconds (default 60), or when --cursor or --select does not apply to the input
    /// (the PNG shows the window reporting it).
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,
    /// Window size, e.g. 1600x1000.
    #[arg(long, value_name = "WxH", default_value = "1600x1000")]
    size: String,
    /// Cursor once loaded: seconds after the start, `start`, `end`, or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    cursor: Option<String>,
    /// Selection once loaded: node:NAME, edge:FROM->TO, event:ID or finding:N.
    #[arg(long, value_name = "WHAT")]
    select: Option<String>,
    /// Filter expression for the events table, graph and plots.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Lower panel tab: events, latency or inputs.
    #[arg(long, value_name = "TAB")]
    tab: Option<String>,
    /// Theme: dark or light.
    #[arg(long, value_name = "THEME")]
    theme: Option<String>,
    /// Start playing the replay once loaded.
    #[arg(long)]
    play: bool,
    /// Follow the files as they grow (`tail -F`): a live source that survives rotation and
    /// truncation (CloudEvents, capture, kcat -J and OTLP collector JSON Lines).
    #[arg(long)]
    follow: bool,
    /// Open the Connect dialog (broker URLs, presets for local brokers) at start.
    #[arg(long)]
    connect: bool,
    /// Events a live source keeps (broker URLs, --follow, `-`, the demo); older ones are
    /// folded into the counts, histograms and findings. 0 keeps all. Default: the
    /// setting (View > Live retention), 1000000 unless changed.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
}

/// Bounds on what one input may make eventlens hold (hostile or broken files).
#[derive(clap::Args, Clone, Copy, Debug)]
struct LimitFlags {
    /// The longest record read: a line, or a whole-document file (OTLP, Jaeger, Zipkin
    /// JSON). A longer line is skipped with an error naming it, and reading goes on after
    /// it. E.g. 64MiB (the default), 512MB, 2GiB.
    #[arg(long, value_name = "SIZE", value_parser = eventlens::ingest::Limits::parse_size)]
    max_record: Option<usize>,
    /// Compressed input (gzip, zstd) may expand at most this many times, past its first
    /// GiB; more is taken for a decompression bomb and reading stops there. Default 500.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_expansion: Option<u64>,
}

impl LimitFlags {
    fn limits(&self) -> eventlens::ingest::Limits {
        let d = eventlens::ingest::Limits::default();
        eventlens::ingest::Limits {
            max_record: self.max_record.unwrap_or(d.max_record),
            max_expansion: self.max_expansion.unwrap_or(d.max_expansion),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Read captures and traces and print the topology, latencies and findings.
    Analyze {
        /// Capture or trace files (CloudEvents, eventlens capture, OTLP JSON, Jaeger, Zipkin,
        /// kcat -J), optionally gzip or zstd compressed; `-` for standard input (e.g.
        /// `kcat -C -J ... | eventlens analyze -`); or broker URLs, read for --duration or
        /// --count.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// With broker URLs: how long to read them (e.g. 10s, 2m, 500ms).
        #[arg(long, value_name = "D", value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        /// With broker URLs: stop after this many messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Follow the files as they grow for --duration (`tail -F`: rotation and truncation
        /// are survived), then analyse what they held and what was appended.
        #[arg(long, requires = "duration")]
        follow: bool,
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
        /// Analyse only the observations this filter keeps, as the app's filter box does:
        /// `type:X source:X channel:X handler:X node:X outcome:error stage:deliver
        /// latency>50ms time:A..B id:X trace:X` and bare words (id, type, source, subject,
        /// payload text); all terms must match.
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        #[command(flatten)]
        thresholds: eventlens::analysis::config::AnalysisFlags,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Write the flow diagram: SVG or PNG (drawn as the app draws it), Graphviz DOT, a
    /// Mermaid flowchart, PlantUML, or the topology as JSON (as in `analyze --json`). Names
    /// are escaped for each format.
    Export {
        /// Capture or trace files (as for analyze; `-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// svg, png, dot, mermaid, plantuml or json; by default from the extension of
        /// --output (.svg, .png, .dot/.gv, .mmd/.mermaid, .puml/.plantuml, .json).
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Where to write it; standard output when not given or `-`.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only what this filter keeps (the app's filter language; see analyze --help).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// The graph as of a moment: seconds after the start, `end`, or an RFC 3339 time.
        #[arg(long, value_name = "TIME", conflicts_with = "window")]
        at: Option<String>,
        /// Only what happened between two moments, `A..B` (either may be left out).
        #[arg(long, value_name = "A..B")]
        window: Option<String>,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Frame-time benchmark of the GUI, driven headless over simulated records.
    #[command(hide = true, name = "bench-ui")]
    BenchUi {
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        #[arg(long, default_value_t = 300)]
        frames: usize,
        /// Records a second the live phase feeds the worker while frames are timed.
        #[arg(long, default_value_t = 100_000)]
        live_rate: u64,
    },
    /// Run the built-in simulator of the reference scenario and write what it produces.
    Demo(DemoArgs),
    /// Record live sources into a capture file (CloudEvents JSON Lines; spans as OTLP JSON Lines).
    ///
    /// URLs: nats://host:port/SUBJECT (wildcards), nats://host:port/stream/NAME
    /// (JetStream from the start; ?seq=N, ?since=RFC3339), mqtt://host:port/FILTER
    /// (?qos=0|1|2, ?v=3 for MQTT 3.1.1), amqp://user:pass@host:port/vhost?exchange=X&key=PATTERN,
    /// redis://host:port/stream/KEY (?from=ID) and redis://host:port/channel/PATTERN; a
    /// CloudEvents webhook listener webhook://127.0.0.1:8080/PATH (see `eventlens listen`);
    /// a Server-Sent Events stream sse+http://host:port/PATH or sse+https://... (each
    /// event's data a CloudEvent, a batch, or a plain message; it reconnects with
    /// Last-Event-ID; a Bearer token from EVENTLENS_SSE_TOKEN); an OpenTelemetry trace
    /// receiver otlp://127.0.0.1:4318 or otlp+grpc://127.0.0.1:4317, whose spans are
    /// written as OTLP JSON Lines (beside the capture, NAME.otlp.jsonl, when events are
    /// recorded too). Ctrl-C ends the recording and completes the files.
    /// Over TLS: tls:// (or nats+tls://), mqtts://, amqps://, rediss://; the certificate is
    /// verified against the platform's roots and ?ca=FILE (a PEM CA), unless ?insecure=1.
    /// Credentials are used, never written or printed.
    ///
    /// With --follow: files another process appends to (`tail -F`: rotation and truncation
    /// are survived), or `-` for standard input, in CloudEvents, capture, kcat -J or OTLP
    /// JSON Lines; kcat messages are written as a broker's would be, spans as OTLP JSON
    /// Lines.
    Record {
        /// Broker URLs, several at once (with --follow: files, or `-`).
        #[arg(required = true)]
        urls: Vec<String>,
        /// Record files as they grow (or `-`, standard input, to its end) instead of
        /// brokers.
        #[arg(long)]
        follow: bool,
        /// The capture file (.gz or .zst compress).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Stop after this long (e.g. 30s, 5m, 1h); default: until interrupted.
        #[arg(long, value_name = "D", value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        /// Stop after this many messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Re-drive: send captured events again to a handler under test or a broker, in their
    /// original order and pacing (CloudEvents binary or structured mode).
    ///
    /// Targets: http(s)://host/path (the CloudEvents HTTP binding), nats://host:port/SUBJECT,
    /// mqtt://host:port/TOPIC, amqp://user:pass@host:port/vhost?exchange=X&key=ROUTINGKEY,
    /// redis://host:port/stream/KEY (XADD: attributes as fields and `data`, or one `event`
    /// field in structured mode). A broker target without a subject, topic, key or stream
    /// key sends each event to the channel it was captured on. Each event once (by source +
    /// id), ids kept unless --rewrite-ids. Exit code 1 when any event was not delivered.
    Replay {
        /// Capture or trace files (as for analyze; `-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to send (see above); credentials in it are used, never printed.
        #[arg(long, value_name = "URL", required_unless_present = "dry_run")]
        to: Option<String>,
        /// Only the events of the observations this filter keeps (see analyze --help).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Only events seen between two moments, `A..B` (seconds after the start or RFC
        /// 3339; either may be left out).
        #[arg(long, value_name = "A..B")]
        window: Option<String>,
        /// The original timing, this many times faster (default 1).
        #[arg(long, value_name = "X", conflicts_with_all = ["rate", "asap"])]
        speed: Option<f64>,
        /// A fixed rate instead of the original timing, e.g. 50/s or 600/m.
        #[arg(long, value_name = "N/s", conflicts_with = "asap")]
        rate: Option<String>,
        /// One after the other, as fast as the target takes them.
        #[arg(long)]
        asap: bool,
        /// A fresh id for each event, with `causationid` set to the original id.
        #[arg(long)]
        rewrite_ids: bool,
        /// binary (attributes in headers or properties) or structured
        /// (application/cloudevents+json).
        #[arg(long, value_name = "MODE", default_value = "binary")]
        mode: String,
        /// Print what would be sent (offset, id, type, source, target) and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Attempts after a failed one, with exponential backoff (HTTP: a 4xx other than
        /// 408 and 429 is not retried).
        #[arg(long, value_name = "N", default_value_t = 3)]
        retries: u32,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// Listen for CloudEvents over HTTP (the CloudEvents HTTP binding: binary, structured
    /// and batch mode) and print the topology, latencies and findings of what arrived, as
    /// analyze does for a broker; without --duration or --count, open the window on it.
    ///
    /// URL: http://127.0.0.1:8080/PATH (the same as the source URL webhook://...); port 0
    /// picks a free one, shown as `listening on ADDR`. ?max_body=SIZE limits a request
    /// (default 4MiB, 413 past it). Senders must present `Authorization: Bearer TOKEN`
    /// when the environment variable EVENTLENS_WEBHOOK_TOKEN is set.
    ///
    /// Or an OpenTelemetry trace receiver: otlp://127.0.0.1:4318 (OTLP/HTTP, protobuf or
    /// JSON, gzip or not) or otlp+grpc://127.0.0.1:4317 (OTLP/gRPC); either port takes
    /// both. The token is then EVENTLENS_OTLP_TOKEN.
    Listen {
        /// Where to listen: http://HOST:PORT/PATH (loopback unless another host is given).
        url: String,
        /// How long to listen (e.g. 10s, 2m).
        #[arg(long, value_name = "D", value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        /// Stop after this many requests carrying events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Print the eventlens.analysis/v1 JSON document instead of the summary.
        #[arg(long)]
        json: bool,
        /// Skip latency analysis and findings (the topology only).
        #[arg(long)]
        no_findings: bool,
        #[command(flatten)]
        thresholds: eventlens::analysis::config::AnalysisFlags,
    },
    /// Webhook benchmark: CloudEvents over HTTP on loopback through the listener, decode
    /// and the live worker, against a bare axum handler that only counts, in the same run.
    #[command(hide = true, name = "bench-webhook")]
    BenchWebhook {
        /// Seconds each phase sends for.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// OTLP receiver benchmark: OTLP/HTTP protobuf spans on loopback through the receiver,
    /// the span joiner and the live worker, against a bare axum handler that only counts,
    /// in the same run.
    #[command(hide = true, name = "bench-otlp")]
    BenchOtlp {
        /// Seconds each phase sends for.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Kafka benchmark: a topic filled first, then read from the beginning by a bare
    /// rdkafka consumer that only counts and by the Kafka source through decode and the live
    /// worker, in the same run.
    #[command(hide = true, name = "bench-kafka")]
    BenchKafka {
        /// A Kafka broker (a topic of its own is created, and left there).
        #[arg(long, default_value = "127.0.0.1:9092")]
        broker: String,
        /// Records to produce and read.
        #[arg(long, default_value_t = 500_000)]
        records: u64,
    },
    /// Live-source benchmark: core NATS on loopback through decode and store, against a
    /// bare async-nats subscriber that only counts, in the same run.
    #[command(hide = true, name = "bench-live")]
    BenchLive {
        /// The NATS server (a subject of its own is used).
        #[arg(long, default_value = "127.0.0.1:4222")]
        server: String,
        /// Messages per second to publish.
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        /// Seconds to publish for.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The pipeline's retention budget (as the app's `--max-events`); none by default.
        #[arg(long, value_name = "N")]
        max_events: Option<usize>,
    },
}

/// `10s`, `5m`, `1h`, `250ms`, or a number of seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 30s, 5m, 1h or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("{s:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    std::time::Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// Splits command-line inputs into files and broker URLs.
fn split_inputs(
    inputs: &[PathBuf],
) -> anyhow::Result<(Vec<PathBuf>, Vec<eventlens::source::BrokerUrl>)> {
    let mut files = Vec::new();
    let mut urls = Vec::new();
    for i in inputs {
        match i.to_str().map(eventlens::source::DataSource::from_arg) {
            Some(Ok(eventlens::source::DataSource::Broker(u))) => urls.push(*u),
            Some(Err(e)) => anyhow::bail!("{e}"),
            _ => files.push(i.clone()),
        }
    }
    Ok((files, urls))
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
    init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eventlens: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Diagnostics (`tracing`) to standard error, as `RUST_LOG` asks (`RUST_LOG=debug`,
/// `RUST_LOG=eventlens=trace`); errors only when it is not set, so that reports and
/// exit codes stay what scripts read. URLs in them are always redacted.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Analyze {
            files,
            duration,
            count,
            follow,
            json,
            fail_on,
            no_findings,
            filter,
            thresholds,
            limits,
        }) => {
            let filter = filter.map(|text| {
                let (f, bad) = eventlens::analysis::filter::Filter::parse(&text);
                (text, f, bad)
            });
            if let Some((_, _, bad)) = &filter
                && !bad.is_empty()
            {
                eprintln!(
                    "eventlens: --filter: cannot read {} (terms: type: source: channel: handler: node: outcome: stage: latency> time:A..B id: trace: or a bare word)",
                    bad.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
            let fail_on = fail_on
                .as_deref()
                .map(eventlens::analysis::FailOn::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let (files, urls) = split_inputs(&files)?;
            let (cfg, _) = thresholds.resolve(files.first().map(PathBuf::as_path))?;
            let (files, live) = if follow {
                if !urls.is_empty() {
                    anyhow::bail!("--follow follows files; give broker URLs without it");
                }
                let d = duration.unwrap_or_default();
                // Standard input (`-`) is read as it arrives for the same time (or to its
                // end) beside the files, not before them.
                let batches = eventlens::live::follow::follow_for(&files, d);
                for n in batches
                    .iter()
                    .flat_map(|b| b.notes.iter().chain(&b.refused))
                {
                    eprintln!("eventlens: {n}");
                }
                let name = files
                    .iter()
                    .map(|f| {
                        if eventlens::ingest::is_stdin(f) {
                            eventlens::live::follow::STDIN_NAME.to_string()
                        } else {
                            f.display().to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                (Vec::new(), Some((format!("following {name}"), batches)))
            } else {
                (files, None)
            };
            let live = if live.is_some() || urls.is_empty() {
                live
            } else {
                if duration.is_none() && count.is_none() {
                    anyhow::bail!(
                        "analyze reads a broker for a while: give --duration (e.g. 10s) or --count"
                    );
                }
                let (name, got) = read_live(&urls, duration, count)?;
                Some((
                    name,
                    vec![eventlens::live::LiveBatch {
                        lines: got.lines,
                        spans: got.spans,
                        ..Default::default()
                    }],
                ))
            };
            let filter = filter.map(|(text, f, _)| (text, f));
            analyze(
                AnalyzeInputs {
                    files: &files,
                    live,
                    limits: limits.limits(),
                },
                json,
                &cfg,
                !no_findings,
                fail_on.as_ref(),
                filter.as_ref(),
            )
        }
        Some(Command::Export {
            files,
            format,
            output,
            filter,
            at,
            window,
            limits,
        }) => export(
            &files,
            format.as_deref(),
            output.as_deref(),
            filter.as_deref(),
            at.as_deref(),
            window.as_deref(),
            limits.limits(),
        ),
        Some(Command::Record {
            urls,
            follow: true,
            output,
            duration,
            count,
        }) => record_follow(&urls, &output, duration, count),
        Some(Command::Record {
            urls,
            follow: false,
            output,
            duration,
            count,
        }) => record(&urls, &output, duration, count),
        Some(Command::Replay {
            files,
            to,
            filter,
            window,
            speed,
            rate,
            asap,
            rewrite_ids,
            mode,
            dry_run,
            retries,
            limits,
        }) => redrive(
            &files,
            RedriveArgs {
                to,
                filter,
                window,
                speed,
                rate,
                asap,
                rewrite_ids,
                mode,
                dry_run,
                retries,
            },
            limits.limits(),
        ),
        Some(Command::Listen {
            url,
            duration,
            count,
            json,
            no_findings,
            thresholds,
        }) => {
            let url = if url.starts_with("otlp") {
                eventlens::source::BrokerUrl::parse(&url)?
            } else {
                eventlens::source::webhook::listen_url(&url).map_err(anyhow::Error::msg)?
            };
            if duration.is_none() && count.is_none() {
                return gui(GuiArgs {
                    files: vec![PathBuf::from(url.to_string())],
                    ..Default::default()
                });
            }
            let (cfg, _) = thresholds.resolve(None)?;
            let (name, got) = read_live(std::slice::from_ref(&url), duration, count)?;
            let live = (
                name,
                vec![eventlens::live::LiveBatch {
                    lines: got.lines,
                    spans: got.spans,
                    ..Default::default()
                }],
            );
            analyze(
                AnalyzeInputs {
                    files: &[],
                    live: Some(live),
                    limits: eventlens::ingest::Limits::default(),
                },
                json,
                &cfg,
                !no_findings,
                None,
                None,
            )
        }
        Some(Command::BenchWebhook {
            seconds,
            concurrency,
        }) => {
            let rt = eventlens::source::runtime()?;
            let r = rt.block_on(eventlens::source::webhook_bench::run(seconds, concurrency))?;
            print!("{}", r.report());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchOtlp {
            seconds,
            concurrency,
        }) => {
            let rt = eventlens::source::runtime()?;
            let r = rt.block_on(eventlens::source::otlp_bench::run(seconds, concurrency))?;
            print!("{}", r.report());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchKafka { broker, records }) => {
            let rt = eventlens::source::runtime()?;
            let r = rt.block_on(eventlens::source::kafka_bench::run(&broker, records))?;
            print!("{}", r.report());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchLive {
            server,
            rate,
            seconds,
            max_events,
        }) => {
            let rt = eventlens::source::runtime()?;
            let r = rt.block_on(eventlens::source::bench::run(
                &server, rate, seconds, max_events,
            ))?;
            print!("{}", r.report());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchUi {
            records,
            frames,
            live_rate,
        }) => {
            #[cfg(not(feature = "gui"))]
            {
                let _ = (records, frames, live_rate);
                anyhow::bail!("bench-ui needs the window: this build has no `gui` feature");
            }
            #[cfg(feature = "gui")]
            {
                let r = eventlens::ui::bench::run(records, frames, live_rate);
                println!(
                    "bench-ui: {} records, {} observations (loaded in {:.1} s), 1600x1000, {} frames each",
                    r.records, r.observations, r.load_secs, frames
                );
                println!(
                    "  playing 10x : p50 {:.2} ms  p95 {:.2} ms",
                    r.playing.0, r.playing.1
                );
                println!(
                    "  scrubbing   : p50 {:.2} ms  p95 {:.2} ms",
                    r.scrubbing.0, r.scrubbing.1
                );
                println!(
                    "  no data     : p50 {:.2} ms  p95 {:.2} ms",
                    r.baseline.0, r.baseline.1
                );
                println!(
                    "  live        : p50 {:.2} ms  p95 {:.2} ms  (fed {} records/s: the worker appended {} in {:.1} s = {:.0}/s; {} snapshots swapped in)",
                    r.live.0,
                    r.live.1,
                    r.live_rate,
                    r.live_records,
                    r.live_secs,
                    r.live_records as f64 / r.live_secs.max(1e-9),
                    r.live_snapshots
                );
                if let Some(w) = r.live_worker {
                    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
                    println!(
                        "  last publish: finalize {:.1} ms ({}), analysis {:.1} ms, views {:.1} ms, next store {:.1} ms",
                        ms(w.parts.finalize),
                        if w.parts.incremental {
                            "incremental"
                        } else {
                            "full rebuild"
                        },
                        ms(w.parts.analysis),
                        ms(w.parts.views),
                        ms(w.parts.next_store)
                    );
                    println!(
                        "  live worker : last publish {:.1} ms for {} events (finalize, analysis, views, catch-up); {} publishes reused a store given back, {} copied; a copy of that store alone: {:.1} ms",
                        w.cost.as_secs_f64() * 1000.0,
                        r.live_events,
                        w.reuses,
                        w.copies,
                        r.live_copy_ms
                    );
                }
                println!(
                    "  ratio to the same frame with no data (p95): playing {:.1}x, scrubbing {:.1}x, live {:.1}x",
                    r.playing.1 / r.baseline.1.max(1e-6),
                    r.scrubbing.1 / r.baseline.1.max(1e-6),
                    r.live.1 / r.baseline.1.max(1e-6)
                );
                Ok(ExitCode::SUCCESS)
            }
        }
        Some(Command::Demo(args)) => demo(args),
        None => gui(cli.gui),
    }
}

#[cfg(feature = "gui")]
/// How long `--screenshot` waits for the window to show the loaded state.
const SCREENSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
#[cfg(feature = "gui")]
/// How much longer the watchdog waits for a window that stopped drawing frames.
const SCREENSHOT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(feature = "gui")]
/// `EVENTLENS_SCREENSHOT_TIMEOUT` (seconds), or the default.
fn screenshot_timeout() -> anyhow::Result<std::time::Duration> {
    match std::env::var("EVENTLENS_SCREENSHOT_TIMEOUT") {
        Err(_) => Ok(SCREENSHOT_TIMEOUT),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(std::time::Duration::from_secs_f64)
            .with_context(|| {
                format!("EVENTLENS_SCREENSHOT_TIMEOUT={v:?}: expected a number of seconds")
            }),
    }
}

#[cfg(feature = "gui")]
fn gui(args: GuiArgs) -> anyhow::Result<ExitCode> {
    use eventlens::ui::{
        BottomTab, EventLensApp, ScreenshotOutcome, ScreenshotRequest, StartOptions,
        theme::ThemeChoice,
    };
    use std::sync::{Arc, Mutex};
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<f32>().ok()?, h.parse::<f32>().ok()?)))
        .context("--size must look like 1600x1000")?;
    let tab = match args.tab.as_deref() {
        None => None,
        Some("events") => Some(BottomTab::Events),
        Some("latency") => Some(BottomTab::Latency),
        Some("inputs") => Some(BottomTab::Inputs),
        Some(other) => anyhow::bail!("--tab {other}: expected events, latency or inputs"),
    };
    let theme = match args.theme.as_deref() {
        None => None,
        Some("dark") => Some(ThemeChoice::Dark),
        Some("light") => Some(ThemeChoice::Light),
        Some(other) => anyhow::bail!("--theme {other}: expected dark or light"),
    };
    let (files, sources) = split_inputs(&args.files)?;
    if !files.is_empty() && !sources.is_empty() {
        anyhow::bail!(
            "the window opens either files or live broker URLs, not both yet (`eventlens analyze` reads both together)"
        );
    }
    // A malformed --cursor or --select is a usage error; one that does not apply to the
    // input (a node that is not there, a time past the end) is reported by the window.
    if let Some(c) = &args.cursor {
        eventlens::replay::moment::StartCursor::parse(c).map_err(anyhow::Error::msg)?;
    }
    if let Some(s) = &args.select {
        eventlens::ui::startup::StartSelect::parse(s).map_err(anyhow::Error::msg)?;
    }
    // Files that are missing or unreadable do not stop the window: it opens with the
    // readable ones and says on the Inputs tab why the others could not be read.
    let timeout = screenshot_timeout()?;
    let request = args.screenshot.as_ref().map(|_| ScreenshotRequest {
        slot: Arc::new(Mutex::new(ScreenshotOutcome {
            waiting_for: "the window to open".into(),
            ..Default::default()
        })),
        timeout,
    });
    let opts = StartOptions {
        demo: files.is_empty() && sources.is_empty() && !args.connect,
        files,
        sources,
        follow: args.follow,
        connect: args.connect,
        cursor: args.cursor,
        select: args.select,
        filter: args.filter,
        tab,
        theme,
        play: args.play,
        screenshot: request.clone(),
        max_events: args.max_events,
    };
    let screenshot_mode = args.screenshot.is_some();
    // A screenshot run must not read or write the user's saved state: give it a scratch
    // directory of its own, removed afterwards.
    let scratch = screenshot_mode
        .then(|| std::env::temp_dir().join(format!("eventlens-screenshot-{}", std::process::id())));
    let mut viewport = egui::ViewportBuilder::default()
        .with_inner_size([w, h])
        .with_min_inner_size([800.0, 500.0])
        .with_title("eventlens")
        .with_app_id("eventlens")
        .with_drag_and_drop(true);
    if let Ok(icon) = eframe::icon_data::from_png_bytes(include_bytes!("../assets/eventlens.png")) {
        viewport = viewport.with_icon(Arc::new(icon));
    }
    if let Some(req) = &request {
        // The app gives up by itself at the deadline; this catches a window that stopped
        // drawing frames altogether, so a screenshot run never waits forever.
        let (slot, scratch) = (req.slot.clone(), scratch.clone());
        let limit = timeout + SCREENSHOT_GRACE;
        let spawned = std::thread::Builder::new()
            .name("eventlens-screenshot-watchdog".into())
            .spawn(move || {
                std::thread::sleep(limit);
                let what = slot
                    .lock()
                    .map(|o| o.waiting_for.clone())
                    .unwrap_or_else(|_| "the window".into());
                eprintln!(
                    "eventlens: --screenshot gave up after {:.0} s: the window stopped drawing while waiting for {what}",
                    limit.as_secs_f64()
                );
                if let Some(dir) = &scratch {
                    let _ = std::fs::remove_dir_all(dir);
                }
                std::process::exit(2);
            });
        if let Err(e) = spawned {
            anyhow::bail!("cannot start the screenshot watchdog: {e}");
        }
    }
    let native = eframe::NativeOptions {
        viewport,
        // A screenshot run must not read or write the user's saved layout.
        persist_window: !screenshot_mode,
        persistence_path: scratch.clone(),
        ..Default::default()
    };
    eframe::run_native(
        "eventlens",
        native,
        Box::new(move |cc| Ok(Box::new(EventLensApp::new(cc, opts)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    if let Some(dir) = &scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    if let (Some(path), Some(req)) = (args.screenshot, request) {
        let outcome = std::mem::take(
            &mut *req
                .slot
                .lock()
                .map_err(|_| anyhow::anyhow!("the screenshot slot is poisoned"))?,
        );
        if let Some(what) = outcome.gave_up {
            anyhow::bail!(
                "--screenshot gave up after {:.0} s waiting for {what} (EVENTLENS_SCREENSHOT_TIMEOUT sets the limit in seconds)",
                timeout.as_secs_f64()
            );
        }
        let img = outcome
            .image
            .context("the window closed before the screenshot was taken")?;
        let [iw, ih] = img.size;
        let bytes: Vec<u8> = img
            .pixels
            .iter()
            .flat_map(|c| c.to_srgba_unmultiplied())
            .collect();
        let buf = image::RgbaImage::from_raw(iw as u32, ih as u32, bytes)
            .context("screenshot has an unexpected size")?;
        buf.save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        // A blank window (nothing drawn, or a GL failure) is an error, not a screenshot.
        let mut colours = std::collections::HashSet::new();
        for p in buf.pixels().step_by(7) {
            colours.insert(p.0);
            if colours.len() > 64 {
                break;
            }
        }
        if colours.len() <= 64 {
            anyhow::bail!(
                "{}: the screenshot is blank ({} colours)",
                path.display(),
                colours.len()
            );
        }
        if let Some(why) = outcome.nothing_read {
            // As `analyze`: one sentence, exit 1. The screenshot shows the window saying so.
            eprintln!("eventlens: {why} (screenshot saved to {})", path.display());
            return Ok(ExitCode::from(1));
        }
        if !outcome.bad_options.is_empty() {
            // A startup option that does not apply to the input: one sentence, exit 2.
            // The screenshot shows the window reporting it.
            eprintln!(
                "eventlens: {} (screenshot saved to {})",
                outcome.bad_options.join("; "),
                path.display()
            );
            return Ok(ExitCode::from(2));
        }
        // As `analyze`: files that could not be read beside ones that could are reported,
        // not fatal.
        for f in &outcome.load_failures {
            eprintln!("eventlens: {f}");
        }
        eprintln!(
            "eventlens: screenshot saved to {} ({iw}x{ih})",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Built without the window: say so, and what to run instead.
#[cfg(not(feature = "gui"))]
fn gui(_args: GuiArgs) -> anyhow::Result<ExitCode> {
    eprintln!(
        "eventlens: this build has no window (built without the `gui` feature); use a subcommand, e.g. `eventlens analyze FILE` (see `eventlens --help`)"
    );
    Ok(ExitCode::from(2))
}

/// Records broker URLs into a capture file.
/// The diagram format named by `--format`, else by the output's extension.
fn export_format(
    format: Option<&str>,
    output: Option<&std::path::Path>,
) -> Result<eventlens::export::Format, String> {
    use eventlens::export::Format;
    match format {
        Some(f) => Format::from_name(f).ok_or_else(|| {
            format!("--format {f}: expected svg, png, dot, mermaid, plantuml or json")
        }),
        None => output
            .and_then(|o| o.extension())
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
            .ok_or_else(|| {
                "give --format svg|png|dot|mermaid|plantuml|json (or an --output ending in .svg, .png, .dot, .mmd, .puml or .json)"
                    .into()
            }),
    }
}

/// A moment of `--at` or `--window` in the store's time.
fn moment(store: &Store, flag: &str, given: &str) -> Result<eventlens::time::Nanos, String> {
    use eventlens::replay::moment::StartCursor;
    StartCursor::parse_for(flag, given).and_then(|c| c.resolve_for(store, flag, given))
}

/// Loads `files` into a new store with `cfg`'s service names: the store, how many inputs
/// loaded, and why the others did not (one sentence each). Says on stderr when standard
/// input ended.
fn load_files(
    files: &[PathBuf],
    cfg: &eventlens::analysis::AnalysisConfig,
    limits: eventlens::ingest::Limits,
) -> (Store, usize, Vec<String>) {
    let mut store = Store::new();
    store.set_service_names(cfg.services.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    let progress = LoadProgress::with_limits(limits);
    let (loaded, failures) =
        eventlens::ingest::load_paths(&mut store, files, &progress, |store, i, f| {
            if eventlens::ingest::is_stdin(f) {
                let input = &store.inputs[i as usize];
                eprintln!(
                    "eventlens: standard input ended after {} records ({} unreadable)",
                    input.records, input.skipped
                );
            }
        });
    (store, loaded, failures)
}

/// What `export` and `replay` work on: the files, loaded and finalized; the analysis
/// configuration; and the observations `--filter` and `--at`/`--window` keep, in time order
/// (`None` when neither narrows).
struct Selection {
    store: eventlens::model::Store,
    cfg: eventlens::analysis::AnalysisConfig,
    keep: Option<Vec<u32>>,
}

/// Loads `files` and applies `--filter`, then `--at` (everything up to a moment) or
/// `--window A..B`. `Err` is the exit code to return, its reason printed: 2 for an option
/// that cannot be read, 1 when no file could be loaded.
fn load_selection(
    files: &[PathBuf],
    filter: Option<&str>,
    at: Option<&str>,
    window: Option<&str>,
    limits: eventlens::ingest::Limits,
) -> anyhow::Result<Result<Selection, ExitCode>> {
    let usage = |msg: String| {
        eprintln!("eventlens: {msg}");
        Ok(Err(ExitCode::from(2)))
    };
    let filter = match filter.map(eventlens::analysis::filter::Filter::parse) {
        Some((_, bad)) if !bad.is_empty() => {
            return usage(format!("--filter: cannot read {}", bad.join(", ")));
        }
        other => other.map(|(f, _)| f),
    };
    let (cfg, _) = eventlens::analysis::config::AnalysisFlags::default()
        .resolve(files.first().map(PathBuf::as_path))?;
    let (mut store, loaded, failures) = load_files(files, &cfg, limits);
    for f in &failures {
        eprintln!("eventlens: {f}");
    }
    if loaded == 0 {
        return Ok(Err(ExitCode::from(1)));
    }
    store.finalize();
    // What to keep: the filter's observations, then those of the moment or window.
    let mut keep: Vec<u32> = match &filter {
        Some(f) => f.apply(&store).observations,
        None => (0..store.observations.len() as u32).collect(),
    };
    let range = match (at, window) {
        (Some(t), _) => match moment(&store, "--at", t) {
            Ok(t) => Some((i64::MIN, t)),
            Err(e) => return usage(e),
        },
        (None, Some(w)) => {
            let Some((a, b)) = w.split_once("..") else {
                return usage(format!(
                    "--window {w}: expected A..B, e.g. 10..20 or 2024-05-01T10:00:00Z.."
                ));
            };
            let a = if a.trim().is_empty() { "start" } else { a };
            let b = if b.trim().is_empty() { "end" } else { b };
            match (moment(&store, "--window", a), moment(&store, "--window", b)) {
                (Ok(a), Ok(b)) if a <= b => Some((a, b)),
                (Ok(_), Ok(_)) => {
                    return usage(format!("--window {w}: the start is after the end"));
                }
                (Err(e), _) | (_, Err(e)) => return usage(e),
            }
        }
        (None, None) => None,
    };
    if let Some((a, b)) = range {
        keep.retain(|&i| {
            store
                .observations
                .get(i as usize)
                .is_some_and(|o| o.time >= a && o.time <= b)
        });
    }
    let narrowed = filter.is_some() || range.is_some();
    Ok(Ok(Selection {
        store,
        cfg,
        keep: narrowed.then_some(keep),
    }))
}

fn export(
    files: &[PathBuf],
    format: Option<&str>,
    output: Option<&std::path::Path>,
    filter: Option<&str>,
    at: Option<&str>,
    window: Option<&str>,
    limits: eventlens::ingest::Limits,
) -> anyhow::Result<ExitCode> {
    let usage = |msg: String| {
        eprintln!("eventlens: {msg}");
        Ok(ExitCode::from(2))
    };
    let format = match export_format(format, output) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let Selection {
        mut store,
        cfg,
        keep,
    } = match load_selection(files, filter, at, window, limits)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if let Some(keep) = keep {
        store = store.subset(&keep);
    }
    let filter_text = filter;
    let opts = eventlens::export::Options {
        filter: filter_text,
        at,
        window,
        show_calls: true,
        ..Default::default()
    };
    let text = eventlens::export::render(&store, &cfg, format, &opts)
        .with_context(|| format!("writing the {} export", format.name()))?;
    match output {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
        }
        _ => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&text)
                .context("writing to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn record(
    urls: &[String],
    output: &std::path::Path,
    duration: Option<std::time::Duration>,
    count: Option<u64>,
) -> anyhow::Result<ExitCode> {
    use eventlens::source::capture::{Holds, RecordWriter};
    use eventlens::source::{self, record};
    let urls = urls
        .iter()
        .map(|u| source::BrokerUrl::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    // OTLP receivers alone: the recording is their spans, as OTLP JSON Lines.
    let holds = if urls
        .iter()
        .all(|u| matches!(u.endpoint, source::Endpoint::Otlp { .. }))
    {
        Holds::Spans
    } else {
        Holds::Events
    };
    let mut writer = RecordWriter::create(output, holds)
        .with_context(|| format!("creating {}", output.display()))?;
    let rt = source::runtime()?;
    let mut inbox = source::start(&urls, rt.handle(), source::DEFAULT_BUDGET);
    for u in &urls {
        eprintln!("eventlens: recording {u} into {}", output.display());
    }
    announce_listeners(&inbox);
    let opts = record::RecordOptions {
        duration,
        count,
        until_interrupted: true,
        ..Default::default()
    };
    let got = rt.block_on(record::record(&mut inbox, &mut writer, &opts));
    rt.block_on(inbox.close(std::time::Duration::from_secs(2)));
    let got = got.with_context(|| format!("writing {}", output.display()))?;
    let files = writer
        .finish()
        .with_context(|| format!("writing {}", output.display()))?;
    let declared = if got.declared > 0 {
        format!(", {} declared-topology records", got.declared)
    } else {
        String::new()
    };
    if let Some((path, _)) = &files.events {
        eprintln!(
            "eventlens: recorded {} messages ({} events){declared} into {}",
            got.messages,
            got.events,
            path.display()
        );
    }
    if files.spans.is_some() {
        eprintln!("eventlens: recorded {}", files.describe_spans());
    }
    for s in &inbox.sources {
        eprintln!("  {}", s.summary());
    }
    Ok(ExitCode::SUCCESS)
}

/// What a followed file holds, from its head: spans (`Some(true)`), events (`Some(false)`),
/// or too little to tell yet (`None`); `Err` why it cannot be recorded as it grows (a whole
/// document, a compressed file).
fn follow_kind(path: &std::path::Path) -> Result<Option<bool>, String> {
    use eventlens::live::follow::{Follower, StreamFormat};
    use std::io::Read;
    let mut head = Vec::new();
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(None);
    };
    if f.take(256 * 1024).read_to_end(&mut head).is_err() {
        return Ok(None);
    }
    Ok(Follower::check_format(&head)?.map(|f| f == StreamFormat::OtlpLines))
}

/// `record --follow`: files as they grow (and standard input, `-`, read as it arrives
/// beside them), until `duration`, `count` records, or the inputs end. Events go to a
/// capture, spans (followed OTLP JSON Lines) to OTLP JSON Lines: the output holds spans
/// when every input is known to hold them, events when one is known to hold events, else
/// (standard input) whichever comes first, the other beside it ([`eventlens::source::capture::RecordWriter`]). Exit 2 for an
/// input that cannot be recorded (a whole document), named with the reason; the output is
/// only made once there is a record to write, so that a refused input leaves no empty file
/// behind.
fn record_follow(
    inputs: &[String],
    output: &std::path::Path,
    duration: Option<std::time::Duration>,
    count: Option<u64>,
) -> anyhow::Result<ExitCode> {
    use eventlens::live::Received;
    use eventlens::live::follow::STDIN_NAME;
    use eventlens::source::capture::{Holds, RecordWriter};
    let paths: Vec<PathBuf> = inputs.iter().map(PathBuf::from).collect();
    let mut kinds = Vec::new();
    for p in &paths {
        if eventlens::ingest::is_stdin(p) {
            kinds.push(None);
            continue;
        }
        match follow_kind(p) {
            Ok(k) => kinds.push(k),
            Err(why) => {
                eprintln!("eventlens: {}: {why}", p.display());
                return Ok(ExitCode::from(2));
            }
        }
    }
    let holds = if kinds.iter().all(|k| *k == Some(true)) {
        Holds::Spans
    } else if kinds.contains(&Some(false)) {
        Holds::Events
    } else {
        Holds::FirstWritten
    };
    let name = paths
        .iter()
        .map(|p| {
            if eventlens::ingest::is_stdin(p) {
                STDIN_NAME.to_string()
            } else {
                p.display().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let end = duration.map(|d| std::time::Instant::now() + d);
    // The feed ends itself at the end, after handing on the spans it still holds.
    let feed = eventlens::live::follow::spawn_follow(paths, end);
    eprintln!("eventlens: recording {name} into {}", output.display());
    let create = || {
        RecordWriter::create(output, holds)
            .with_context(|| format!("creating {}", output.display()))
    };
    let mut writer: Option<RecordWriter> = None;
    let rx = feed.receiver();
    // Past the end, a moment for the held spans to arrive.
    let give_up = end.map(|e| e + std::time::Duration::from_secs(5));
    let mut written = 0u64;
    let mut refused = false;
    let mut flushed = std::time::Instant::now();
    'recording: loop {
        if count.is_some_and(|c| written >= c) {
            break;
        }
        let wait = match give_up {
            Some(e) => {
                let now = std::time::Instant::now();
                if now >= e {
                    break;
                }
                (e - now).min(std::time::Duration::from_millis(200))
            }
            None => std::time::Duration::from_millis(200),
        };
        match rx.recv_timeout(wait) {
            Received::Batch(b) => {
                let origin = b.origin.as_deref().unwrap_or(&name);
                for n in &b.notes {
                    eprintln!("eventlens: {n}");
                }
                for (line, why) in &b.errors {
                    eprintln!("eventlens: {origin}: line {line}: {why}");
                }
                if let Some(why) = &b.refused {
                    eprintln!("eventlens: {why}");
                    refused = true;
                }
                if !b.spans.is_empty() {
                    if writer.is_none() {
                        writer = Some(create()?);
                    }
                    if let Some(w) = writer.as_mut() {
                        w.write_spans(&b.spans)
                            .with_context(|| format!("writing {}", output.display()))?;
                    }
                    written += b.spans.len() as u64;
                }
                let broker = if origin == STDIN_NAME {
                    "stdin".to_string()
                } else {
                    format!("file:{origin}")
                };
                let (lines, bad) = b.capture_lines(&broker);
                for why in bad {
                    eprintln!("eventlens: {origin}: {why}");
                }
                for l in lines.iter() {
                    if count.is_some_and(|c| written >= c) {
                        break 'recording;
                    }
                    if writer.is_none() {
                        writer = Some(create()?);
                    }
                    if let Some(w) = writer.as_mut() {
                        w.write_line(l)
                            .with_context(|| format!("writing {}", output.display()))?;
                    }
                    written += 1;
                }
            }
            Received::Nothing => {}
            Received::Ended => break,
        }
        if let Some(w) = writer.as_mut()
            && flushed.elapsed() >= std::time::Duration::from_millis(200)
        {
            w.flush()
                .with_context(|| format!("writing {}", output.display()))?;
            flushed = std::time::Instant::now();
        }
    }
    feed.stop();
    // A recording that got nothing is an empty capture, unless an input was refused.
    if writer.is_none() && !refused {
        writer = Some(create()?);
    }
    match writer {
        Some(w) => {
            let files = w
                .finish()
                .with_context(|| format!("writing {}", output.display()))?;
            if let Some((path, n)) = &files.events {
                eprintln!(
                    "eventlens: recorded {n} records from {name} into {}",
                    path.display()
                );
            }
            if files.spans.is_some() {
                eprintln!("eventlens: recorded {} from {name}", files.describe_spans());
            }
        }
        None => eprintln!(
            "eventlens: nothing recorded: {} was not created",
            output.display()
        ),
    }
    Ok(if refused {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// What `replay` was asked to do, besides its files.
struct RedriveArgs {
    to: Option<String>,
    filter: Option<String>,
    window: Option<String>,
    speed: Option<f64>,
    rate: Option<String>,
    asap: bool,
    rewrite_ids: bool,
    mode: String,
    dry_run: bool,
    retries: u32,
}

/// `replay --to`: re-drives the selected events; exit code 1 when any was not delivered.
fn redrive(
    files: &[PathBuf],
    args: RedriveArgs,
    limits: eventlens::ingest::Limits,
) -> anyhow::Result<ExitCode> {
    use eventlens::redrive::{Mode, Options, Pacing, Redrive, RedriveRun, Target};
    let usage = |msg: String| {
        eprintln!("eventlens: {msg}");
        Ok(ExitCode::from(2))
    };
    let target = match args.to.as_deref().map(Target::parse).transpose() {
        Ok(t) => t,
        Err(e) => return usage(format!("--to {e}")),
    };
    let mode = match Mode::parse(&args.mode) {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let pacing = match (args.speed, args.rate.as_deref(), args.asap) {
        (_, _, true) => Pacing::Asap,
        (_, Some(r), _) => match Pacing::parse_rate(r) {
            Ok(p) => p,
            Err(e) => return usage(e),
        },
        (Some(s), _, _) if !(s.is_finite() && s > 0.0) => {
            return usage(format!("--speed {s}: expected a number above zero"));
        }
        (Some(speed), _, _) => Pacing::Original { speed },
        (None, None, false) => Pacing::default(),
    };
    let Selection { store, keep, .. } = match load_selection(
        files,
        args.filter.as_deref(),
        None,
        args.window.as_deref(),
        limits,
    )? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let keep = keep.unwrap_or_else(|| (0..store.observations.len() as u32).collect());
    let events = eventlens::redrive::events_of(&store, keep);
    let options = Options {
        pacing,
        mode,
        rewrite_ids: args.rewrite_ids,
        retries: args.retries,
        ..Options::default()
    };
    let Some(target) = target else {
        // --dry-run without a target: what would be sent, and where it was captured.
        let planned: Vec<_> = events
            .iter()
            .map(|&e| eventlens::redrive::RedriveEvent::from_store(&store, e))
            .collect();
        for line in eventlens::redrive::dry_run_lines(&planned, pacing, None) {
            println!("{line}");
        }
        eprintln!("eventlens: {} events would be sent", planned.len());
        return Ok(ExitCode::SUCCESS);
    };
    let plan = Redrive::from_store(&store, &events, target, options);
    if args.dry_run {
        for line in plan.dry_run_lines() {
            println!("{line}");
        }
        eprintln!(
            "eventlens: {} events would be sent to {} ({} mode)",
            plan.events.len(),
            plan.target,
            mode.as_str()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "eventlens: re-driving {} events to {} ({} mode)",
        plan.events.len(),
        plan.target,
        mode.as_str()
    );
    let rt = eventlens::source::runtime()?;
    let run = RedriveRun::start(plan, rt.handle(), None);
    let summary = run.wait();
    print!("{}", summary.to_text());
    Ok(if summary.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints where each listener (webhook) is bound once it is (port 0 picks one), so that
/// senders and scripts can find it: `eventlens: webhook://...: listening on ADDR`.
fn announce_listeners(inbox: &eventlens::source::Inbox) {
    use eventlens::source::SourceStatus;
    for s in &inbox.sources {
        if !eventlens::source::is_listener(&s.url) {
            continue;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while s.status() == SourceStatus::Connecting && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        eprintln!("eventlens: {}: {}", s.url, s.status_text());
    }
}

/// Capture lines read from broker URLs for a while (`analyze URL --duration D`), and the
/// name of the input they make.
fn read_live(
    urls: &[eventlens::source::BrokerUrl],
    duration: Option<std::time::Duration>,
    count: Option<u64>,
) -> anyhow::Result<(String, eventlens::source::record::Collected)> {
    use eventlens::source::{self, record};
    let rt = source::runtime()?;
    let mut inbox = source::start(urls, rt.handle(), source::DEFAULT_BUDGET);
    announce_listeners(&inbox);
    let mut lines = record::Collected::default();
    let opts = record::RecordOptions {
        duration,
        count,
        until_interrupted: true,
        ..Default::default()
    };
    let got = rt.block_on(record::record(&mut inbox, &mut lines, &opts));
    rt.block_on(inbox.close(std::time::Duration::from_secs(2)));
    got?;
    for s in &inbox.sources {
        eprintln!("eventlens: {}", s.summary());
    }
    let name = urls
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Ok((name, lines))
}

/// What `analyze` reads: files (within `limits`) and what was read live (a name and the
/// batches), e.g. from broker URLs or a followed file.
struct AnalyzeInputs<'a> {
    files: &'a [PathBuf],
    live: Option<(String, Vec<eventlens::live::LiveBatch>)>,
    limits: eventlens::ingest::Limits,
}

fn analyze(
    inputs: AnalyzeInputs<'_>,
    json: bool,
    cfg: &eventlens::analysis::AnalysisConfig,
    analysis: bool,
    fail_on: Option<&eventlens::analysis::FailOn>,
    filter: Option<&(String, eventlens::analysis::filter::Filter)>,
) -> anyhow::Result<ExitCode> {
    let AnalyzeInputs {
        files,
        live,
        limits,
    } = inputs;
    let profile = std::env::var_os("EVENTLENS_PROFILE").is_some();
    let t0 = std::time::Instant::now();
    let (mut store, mut loaded, failures) = load_files(files, cfg, limits);
    let mut shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    if let Some((name, batches)) = &live {
        let mut input = eventlens::live::LiveInput::new(&mut store, name);
        for b in batches {
            input.add_batch(&mut store, b);
        }
        shown.push(name.clone());
        loaded += 1;
    }
    let t_load = t0.elapsed();
    for f in &failures {
        eprintln!("eventlens: {f}");
    }
    // An input that loaded, even empty (`[]`, a capture with no events yet), is a report;
    // only when nothing could be read at all is it a failure.
    if loaded == 0 {
        if failures.is_empty() {
            eprintln!("eventlens: no events in {}", shown.join(", "));
        }
        return Ok(ExitCode::from(1));
    }
    store.finalize();
    if let Some((_, f)) = filter {
        let kept = f.apply(&store).observations;
        store = store.subset(&kept);
    }
    let t_finalize = t0.elapsed();
    let mut report = Report::build_with(&store, cfg, analysis);
    report.filter = filter.map(|(text, _)| text.clone());
    if profile {
        let [read, parse, add] = eventlens::ingest::lines::phase_times();
        eprintln!(
            "profile: load {t_load:?} (read {read:?}, parse {parse:?}, add {add:?}), finalize {:?}, report {:?}",
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
    let hits = fail_on.map_or(0, |f| {
        report.findings.iter().filter(|x| x.matches(f)).count()
    });
    // The process ends here: freeing a million-observation store piece by piece would only
    // delay the exit; the OS takes the memory back at once.
    std::mem::forget(report);
    std::mem::forget(store);
    if hits > 0 {
        eprintln!("eventlens: {hits} finding(s) match --fail-on");
        return Ok(ExitCode::from(3));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn inputs_split_into_files_and_broker_urls() {
        let (files, urls) = split_inputs(&[
            PathBuf::from("capture.jsonl"),
            PathBuf::from("nats://127.0.0.1:4222/orders.>"),
        ])
        .expect("splits");
        assert_eq!(files, vec![PathBuf::from("capture.jsonl")]);
        assert_eq!(urls[0].to_string(), "nats://127.0.0.1:4222/orders.>");
        assert!(split_inputs(&[PathBuf::from("mqtt://host")]).is_err());
    }
}
