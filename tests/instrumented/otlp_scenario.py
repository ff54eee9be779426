#!/usr/bin/env python3
"""A producer or a consumer, traced by the real OpenTelemetry Python SDK and its pika
instrumentation against the local RabbitMQ, exporting over OTLP to wherever
OTEL_EXPORTER_OTLP_ENDPOINT points (eventlens's OTLP receiver in tests/otlp.rs), with
the SDK's own OTLP exporter: `--protocol http` (opentelemetry-exporter-otlp-proto-http,
protobuf over HTTP) or `--protocol grpc` (opentelemetry-exporter-otlp-proto-grpc).

    producer (service otlp-producer): basic_publish of N messages to the default
        exchange with routing key QUEUE (message ids m-1..m-N), each with the time it
        was published in the header `published_ns`
    consumer (service otlp-consumer): waits --delay seconds, then basic_consume on QUEUE
        until N messages were handled, noting when each handler started

Each prints one JSON object on stdout: what it did (the message ids and times), which the
test compares with what eventlens read from the spans. The exporter is flushed (the
provider shut down) before the process ends.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pika
from opentelemetry.instrumentation.pika import PikaInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def exporter(protocol: str):
    # No endpoint given: the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT, as an app does.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter(insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["producer", "consumer"], required=True)
    ap.add_argument("--protocol", choices=["http", "grpc"], required=True)
    ap.add_argument("--queue", required=True)
    ap.add_argument("-n", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()

    provider = TracerProvider(resource=Resource.create({"service.name": f"otlp-{args.role}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter(args.protocol), schedule_delay_millis=200))

    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", 5672, credentials=pika.PlainCredentials("guest", "guest")))
    ch = conn.channel()
    PikaInstrumentor.instrument_channel(ch, tracer_provider=provider)
    ch.queue_declare(queue=args.queue, durable=False, auto_delete=False)
    out: dict = {"role": args.role, "service": f"otlp-{args.role}", "queue": args.queue,
                 "messages": []}

    if args.role == "producer":
        for i in range(1, args.n + 1):
            published = time.time_ns()
            ch.basic_publish(
                exchange="", routing_key=args.queue, body=json.dumps({"order": i}).encode(),
                properties=pika.BasicProperties(
                    message_id=f"m-{i}", content_type="application/json", delivery_mode=1,
                    headers={"published_ns": str(published)}))
            out["messages"].append({"message_id": f"m-{i}", "published_ns": published})
            time.sleep(0.05)
    else:
        time.sleep(args.delay)

        def on_message(c, method, properties, body):
            handled = time.time_ns()
            published = int((properties.headers or {}).get("published_ns", "0"))
            out["messages"].append({"message_id": properties.message_id,
                                    "published_ns": published, "handled_ns": handled})
            c.basic_ack(delivery_tag=method.delivery_tag)
            if len(out["messages"]) >= args.n:
                c.stop_consuming()

        ch.basic_consume(queue=args.queue, on_message_callback=on_message)
        conn.call_later(30, ch.stop_consuming)
        ch.start_consuming()
        ch.queue_delete(queue=args.queue)
    conn.close()
    provider.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
