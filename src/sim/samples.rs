//! The sample traces in `sample-traces/`: the reference run as a capture, OTLP JSON and
//! Jaeger JSON, a clean run, one run per defect, each with its ground truth (JSON and
//! Markdown). `eventlens demo --samples sample-traces` regenerates them byte for byte.

use super::*;
use std::io::{BufWriter, Write};
use std::path::Path;

fn create(dir: &Path, name: &str) -> std::io::Result<BufWriter<std::fs::File>> {
    Ok(BufWriter::new(std::fs::File::create(dir.join(name))?))
}

fn truth_json(dir: &Path, name: &str, truth: &truth::GroundTruth) -> std::io::Result<()> {
    let mut w = create(dir, name)?;
    serde_json::to_writer_pretty(&mut w, truth)?;
    writeln!(w)?;
    w.flush()
}

const DIAGRAM: &str = "```\nproducer-service --OrderPlaced--> orders --> handler-a --> read-model\n                                         \\-> handler-b --> read-model\n                        handler-a --(3 failed attempts)--> orders.dlq\n```";

pub fn write_samples(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let run = Simulator::new(SimConfig::reference()).run();
    let mut w = create(dir, "capture.jsonl")?;
    write::write_capture(&run, &mut w)?;
    w.flush()?;
    let mut w = create(dir, "otlp.json")?;
    write::write_otlp(&run, &mut w)?;
    w.flush()?;
    let mut w = create(dir, "jaeger.json")?;
    write::write_jaeger(&run, &mut w)?;
    w.flush()?;
    truth_json(dir, "ground-truth.json", &run.truth)?;

    let variants_dir = dir.join("defects");
    std::fs::create_dir_all(&variants_dir)?;
    let mut variants = vec![("clean", Defects::none())];
    variants.extend(Defects::each());
    let mut index = String::new();
    for (name, defects) in variants {
        let run = Simulator::new(SimConfig {
            defects,
            ..SimConfig::reference()
        })
        .run();
        let mut w = create(&variants_dir, &format!("{name}.jsonl"))?;
        write::write_capture(&run, &mut w)?;
        w.flush()?;
        truth_json(&variants_dir, &format!("{name}.truth.json"), &run.truth)?;
        index.push_str(&format!(
            "\n### `defects/{name}.jsonl`\n\n{}",
            run.truth.to_markdown()
        ));
    }

    let mut readme = create(dir, "README.md")?;
    write!(
        readme,
        "# Sample traces\n\n\
Written by `eventlens demo --samples sample-traces` (the simulator in `src/sim`, seed {seed}); \
do not edit by hand: regenerate. A test checks that regenerating gives these exact bytes.\n\n\
The reference scenario:\n\n{DIAGRAM}\n\n\
| file | what |\n|---|---|\n\
| `capture.jsonl` | the reference run as an eventlens capture (CloudEvents JSON Lines, one line per observation) |\n\
| `otlp.json` | the same run as OTLP JSON traces (`TracesData`, hex ids, one trace per order) |\n\
| `jaeger.json` | the same run as a Jaeger JSON download |\n\
| `ground-truth.json` | the ground truth below, as data (tests compare `analyze --json` with it) |\n\
| `defects/clean.jsonl` | the same scenario with no injected defect |\n\
| `defects/NAME.jsonl` | one defect injected on its own, with `NAME.truth.json` beside it |\n\n\
Delivery latency is lognormal (median 12 ms to handler-a, 25 ms to handler-b, sigma 0.45); \
processing time lognormal (median 8 ms / 15 ms, sigma 0.35), cold starts add 300-600 ms; \
store writes take 1-4 ms. Times are rounded to the microsecond so every format agrees.\n\n\
## Ground truth of the reference run (`capture.jsonl`, `otlp.json`, `jaeger.json`)\n\n{}\n\
## Per-defect runs\n{index}",
        run.truth.to_markdown(),
        seed = run.config.seed,
    )?;
    readme.flush()
}
