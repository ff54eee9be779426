//! The OTLP receiver benchmark (`eventlens bench-otlp`): OTLP/HTTP protobuf requests on
//! loopback, sent by `reqwest` with a fixed number in flight for a fixed time, each a batch
//! of producer and consumer spans (a trace each pair, the consumer a child of the
//! producer). The same run measures a bare `axum` handler that only reads the body and
//! counts, then the eventlens pipeline as the window runs it (the receiver, protobuf
//! decode, the span joiner, the inbox, batches and the live worker: span mapping, store,
//! finalize, analysis, snapshots). The figure is the ratio of their span throughputs.

use super::webhook_bench::{Phase, bare, pipeline};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as pb;
use prost::Message as _;

/// Producer/consumer pairs in one request (twice as many spans).
pub const PAIRS_PER_REQUEST: u64 = 50;

#[derive(Clone, Debug, Default)]
pub struct OtlpBench {
    pub seconds: u64,
    pub concurrency: usize,
    pub bare: Phase,
    pub pipeline: Phase,
}

impl OtlpBench {
    /// Pipeline throughput over the bare handler's.
    pub fn ratio(&self) -> f64 {
        self.pipeline.rate() / self.bare.rate().max(1e-9)
    }

    pub fn report(&self) -> String {
        let line = |name: &str, p: &Phase| {
            format!(
                "  {name:<38} {:>9} spans in {:.2} s = {:>8.0} spans/s ({} requests accepted, {} failed)\n",
                p.processed,
                p.elapsed.as_secs_f64(),
                p.rate(),
                p.accepted,
                p.failed
            )
        };
        format!(
            "bench-otlp: OTLP/HTTP protobuf on loopback, {} spans a request, {} requests in flight, {} s per phase\n{}{}  ratio pipeline / bare handler: {:.2}\n",
            PAIRS_PER_REQUEST * 2,
            self.concurrency,
            self.seconds,
            line("bare axum handler (counts)", &self.bare),
            line("eventlens OTLP receiver + live worker", &self.pipeline),
            self.ratio()
        )
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str, spans: Vec<pb::Span>) -> pb::ResourceSpans {
    pb::ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![pb::ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Request `i`: producer spans of `bench-producer` and their consumers in
/// `bench-consumer`, 2 ms apart, on queue `orders`.
pub fn request(i: u64) -> Vec<u8> {
    let now = super::now_nanos() as u64;
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for k in 0..PAIRS_PER_REQUEST {
        let n = i * PAIRS_PER_REQUEST + k + 1;
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&n.to_be_bytes());
        trace[8..].copy_from_slice(&0xbe9c_u64.to_be_bytes());
        let producer = (n << 1).to_be_bytes().to_vec();
        let consumer = ((n << 1) | 1).to_be_bytes().to_vec();
        let attrs = |op: &str| {
            vec![
                kv("messaging.system", "rabbitmq"),
                kv("messaging.destination.name", "orders"),
                kv("messaging.operation", op),
                kv("messaging.message.id", &format!("m-{n}")),
            ]
        };
        producers.push(pb::Span {
            trace_id: trace.to_vec(),
            span_id: producer.clone(),
            name: "orders publish".into(),
            kind: 4,
            start_time_unix_nano: now,
            end_time_unix_nano: now + 300_000,
            attributes: attrs("publish"),
            ..Default::default()
        });
        consumers.push(pb::Span {
            trace_id: trace.to_vec(),
            span_id: consumer,
            parent_span_id: producer,
            name: "orders process".into(),
            kind: 5,
            start_time_unix_nano: now + 2_000_000,
            end_time_unix_nano: now + 2_500_000,
            attributes: attrs("process"),
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: vec![
            resource("bench-producer", producers),
            resource("bench-consumer", consumers),
        ],
    }
    .encode_to_vec()
}

fn otlp_request(r: reqwest::RequestBuilder, i: u64) -> reqwest::RequestBuilder {
    r.header("content-type", "application/x-protobuf")
        .body(request(i))
}

pub async fn run(seconds: u64, concurrency: usize) -> std::io::Result<OtlpBench> {
    let concurrency = concurrency.max(1);
    Ok(OtlpBench {
        seconds,
        concurrency,
        bare: {
            // The bare handler counts requests; each carries this many spans.
            let mut p = bare(
                "/v1/traces",
                axum::http::StatusCode::OK,
                seconds,
                concurrency,
                otlp_request,
            )
            .await?;
            p.processed *= PAIRS_PER_REQUEST * 2;
            p
        },
        // Each request carries this many spans, each one record of the worker.
        pipeline: pipeline(
            "otlp://127.0.0.1:0",
            "/v1/traces",
            seconds,
            concurrency,
            otlp_request,
            PAIRS_PER_REQUEST * 2,
        )
        .await?,
    })
}
