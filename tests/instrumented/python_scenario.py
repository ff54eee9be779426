#!/usr/bin/env python3
"""One run of a small shop, traced by the real OpenTelemetry Python instrumentations
against the local RabbitMQ and Redis, serialized with the SDK's own OTLP encoder.

    checkout --HTTP POST x3--> orders-api --SET/INCR--> redis
                               orders-api --pika basic_publish (default exchange, rk=orders)--> queue orders
    queue orders --pika basic_consume--> fulfillment --HSET--> redis   (order 2 fails in the handler)

Each service has its own TracerProvider (own service.name resource) and its own
InMemorySpanExporter behind a SimpleSpanProcessor. All three run in this process
(one thread each for orders-api's HTTP server and fulfillment's consumer), but
the context crosses HTTP and AMQP only through the headers the instrumentations
inject and extract.

Writes into --out (default tests/fixtures/instrumented):
  <name>.json              MessageToJson(encode_spans(spans))   camelCase, base64 ids
  <name>-proto-names.json  same, preserving_proto_field_name=True (snake_case)
  <name>.jsonl             one compact ExportTraceServiceRequest per service per line
  <name>.truth.json        ground truth computed from the SDK spans (ground_truth.py)

Exit status 2 with a message when RabbitMQ or Redis can't be reached.
Set OTEL_SEMCONV_STABILITY_OPT_IN (e.g. "http,database") to have the HTTP and
Redis instrumentations write the stable semantic conventions; use --name then.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from importlib.metadata import version as pkg_version
from wsgiref.simple_server import WSGIRequestHandler, make_server

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pika  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from google.protobuf.json_format import MessageToDict, MessageToJson  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.instrumentation.pika import PikaInstrumentor  # noqa: E402
from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: E402
from opentelemetry.instrumentation.requests import RequestsInstrumentor  # noqa: E402
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

import ground_truth  # noqa: E402

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 0
QUEUE = "orders"
N_ORDERS = 3
FAILING_ORDER = 2
TIMEOUT_S = 30.0

PACKAGES = [
    "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-semantic-conventions",
    "opentelemetry-instrumentation", "opentelemetry-instrumentation-pika",
    "opentelemetry-instrumentation-redis", "opentelemetry-instrumentation-requests",
    "opentelemetry-instrumentation-wsgi", "opentelemetry-exporter-otlp-proto-common",
    "opentelemetry-proto", "protobuf", "pika", "redis", "requests",
]


def die(msg: str) -> None:
    print(f"python_scenario: {msg}", file=sys.stderr)
    sys.exit(2)


def rabbit_params() -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        host=RABBIT_HOST, port=RABBIT_PORT, credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=10,
    )


def make_provider(service: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def preflight() -> None:
    """Reach both brokers with plain, uninstrumented clients; reset the run's state."""
    try:
        conn = pika.BlockingConnection(rabbit_params())
    except Exception as e:  # noqa: BLE001
        die(f"RabbitMQ unreachable at {RABBIT_HOST}:{RABBIT_PORT} ({type(e).__name__}: {e}); "
            "start it with `rabbitmq-server -detached`")
    ch = conn.channel()
    ch.queue_declare(queue=QUEUE, durable=False)
    ch.queue_purge(queue=QUEUE)
    conn.close()
    try:
        r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)
        r.ping()
    except Exception as e:  # noqa: BLE001
        die(f"Redis unreachable at {REDIS_HOST}:{REDIS_PORT} ({type(e).__name__}: {e}); "
            "start it with `redis-server --daemonize yes ...`")
    keys = [f"order:{i}" for i in range(1, N_ORDERS + 1)] + \
           [f"fulfillment:order:{i}" for i in range(1, N_ORDERS + 1)] + ["orders:count"]
    r.delete(*keys)
    r.close()


# --------------------------------------------------------------------- orders-api
class OrdersApi:
    """WSGI app; owns one pika channel and one redis client, used only from the
    server thread (wsgiref serves one request at a time)."""

    def __init__(self, provider: TracerProvider):
        self.provider = provider
        self.tracer = provider.get_tracer("orders-api")
        self.conn = None
        self.channel = None
        self.redis = None

    def open(self) -> None:
        self.conn = pika.BlockingConnection(rabbit_params())
        self.channel = self.conn.channel()
        PikaInstrumentor.instrument_channel(self.channel, tracer_provider=self.provider)
        self.channel.queue_declare(queue=QUEUE, durable=False)
        self.redis = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
        RedisInstrumentor.instrument_client(self.redis, tracer_provider=self.provider)

    def close(self) -> None:
        if self.conn is not None and self.conn.is_open:
            self.conn.close()
        if self.redis is not None:
            self.redis.close()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/orders":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        order = json.loads(environ["wsgi.input"].read(size))
        n = int(order["order_id"])
        self.redis.set(f"order:{n}", json.dumps(order))
        total = self.redis.incr("orders:count")
        body = json.dumps({"order_id": n, "sku": order["sku"], "qty": order["qty"]}).encode()
        self.channel.basic_publish(
            exchange="",
            routing_key=QUEUE,
            body=body,
            properties=pika.BasicProperties(
                message_id=f"order-{n}", content_type="application/json", delivery_mode=1,
            ),
        )
        out = json.dumps({"order_id": n, "accepted": True, "orders_total": total}).encode()
        start_response("201 Created", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(out)))])
        return [out]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # keep stdout clean
        pass


# -------------------------------------------------------------------- fulfillment
class Fulfillment(threading.Thread):
    def __init__(self, provider: TracerProvider, ready: threading.Event):
        super().__init__(name="fulfillment", daemon=True)
        self.provider = provider
        self.ready = ready
        self.handled: list[tuple[str, str]] = []  # (message_id, "ok" | "failed")
        self.error: BaseException | None = None

    def on_message(self, ch, method, properties, body):
        order = json.loads(body)
        n = order["order_id"]
        status = "rejected" if n == FAILING_ORDER else "shipped"
        self.redis.hset(f"fulfillment:order:{n}", mapping={"status": status, "qty": order["qty"]})
        if n == FAILING_ORDER:
            ch.basic_nack(delivery_tag=method.delivery_tag, requeue=False)
            self.handled.append((properties.message_id, "failed"))
            # Raised inside the traced callback: the pika instrumentation's
            # use_span() records the exception and sets status ERROR.
            raise RuntimeError(f"fulfillment: sku {order['sku']} out of stock for order {n}")
        ch.basic_ack(delivery_tag=method.delivery_tag)
        self.handled.append((properties.message_id, "ok"))

    def run(self):
        try:
            conn = pika.BlockingConnection(rabbit_params())
            ch = conn.channel()
            PikaInstrumentor.instrument_channel(ch, tracer_provider=self.provider)
            self.redis = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
            RedisInstrumentor.instrument_client(self.redis, tracer_provider=self.provider)
            ch.queue_declare(queue=QUEUE, durable=False)
            ch.basic_qos(prefetch_count=1)
            ch.basic_consume(queue=QUEUE, on_message_callback=self.on_message, consumer_tag="fulfillment")
            self.ready.set()
            deadline = time.monotonic() + TIMEOUT_S
            while len(self.handled) < N_ORDERS and time.monotonic() < deadline:
                try:
                    conn.process_data_events(time_limit=0.05)
                except RuntimeError as e:
                    if "out of stock" not in str(e):
                        raise
            ch.cancel()
            conn.close()
            self.redis.close()
        except BaseException as e:  # noqa: BLE001
            self.error = e
            self.ready.set()


# ------------------------------------------------------------------------- output
def hex_id(i: int, width: int) -> str:
    return format(i, f"0{width}x")


def normalized(span, service: str) -> dict:
    """Copy the SDK ReadableSpan's fields into the stdlib-only shape ground_truth.py reads."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "service": service,
        "scope": {"name": span.instrumentation_scope.name, "version": span.instrumentation_scope.version},
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": hex_id(ctx.trace_id, 32),
        "span_id": hex_id(ctx.span_id, 16),
        "parent_span_id": hex_id(parent.span_id, 16) if parent is not None else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": {"code": span.status.status_code.name, "message": span.status.description},
        "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in span.attributes.items()},
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "links": [{"trace_id": hex_id(l.context.trace_id, 32), "span_id": hex_id(l.context.span_id, 16),
                   "attributes": dict(l.attributes or {})} for l in span.links],
    }


def write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        if not text.endswith("\n"):
            f.write("\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "fixtures", "instrumented"))
    ap.add_argument("--name", default="python-pika-redis-http")
    args = ap.parse_args()
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)

    preflight()

    checkout_tp, checkout_exp = make_provider("checkout")
    orders_tp, orders_exp = make_provider("orders-api")
    fulfil_tp, fulfil_exp = make_provider("fulfillment")

    # HTTP client side: requests, traced by checkout's provider.
    RequestsInstrumentor().instrument(tracer_provider=checkout_tp)

    # orders-api: WSGI server on a free port, server spans from the WSGI middleware.
    api = OrdersApi(orders_tp)
    app = OpenTelemetryMiddleware(api, tracer_provider=orders_tp)
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    port = server.server_address[1]
    server_err: list[BaseException] = []

    def serve():
        try:
            api.open()
        except BaseException as e:  # noqa: BLE001
            server_err.append(e)
        server_ready.set()
        if not server_err:
            server.serve_forever(poll_interval=0.05)
        api.close()

    server_ready = threading.Event()
    server_thread = threading.Thread(target=serve, name="orders-api", daemon=True)
    server_thread.start()

    consumer_ready = threading.Event()
    fulfillment = Fulfillment(fulfil_tp, consumer_ready)
    fulfillment.start()
    server_ready.wait(TIMEOUT_S)
    consumer_ready.wait(TIMEOUT_S)
    if server_err:
        die(f"orders-api could not start: {server_err[0]!r}")
    if fulfillment.error:
        die(f"fulfillment could not start: {fulfillment.error!r}")

    # checkout: one INTERNAL span per order around the instrumented POST.
    tracer = checkout_tp.get_tracer("checkout")
    session = requests.Session()
    for n in range(1, N_ORDERS + 1):
        with tracer.start_as_current_span("place order", kind=trace.SpanKind.INTERNAL) as span:
            span.set_attribute("order.id", n)
            resp = session.post(f"http://127.0.0.1:{port}/orders",
                                json={"order_id": n, "sku": f"SKU-{100 + n}", "qty": n}, timeout=10)
            if resp.status_code != 201:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {resp.status_code}"))
                die(f"orders-api answered {resp.status_code} for order {n}")
    session.close()

    fulfillment.join(TIMEOUT_S + 5)
    server.shutdown()
    server_thread.join(10)
    server.server_close()
    RequestsInstrumentor().uninstrument()
    if fulfillment.error:
        die(f"fulfillment failed: {fulfillment.error!r}")
    if len(fulfillment.handled) != N_ORDERS:
        die(f"fulfillment handled {len(fulfillment.handled)} of {N_ORDERS} messages within {TIMEOUT_S}s")

    for tp in (checkout_tp, orders_tp, fulfil_tp):
        tp.force_flush()
    by_service = {
        "checkout": list(checkout_exp.get_finished_spans()),
        "orders-api": list(orders_exp.get_finished_spans()),
        "fulfillment": list(fulfil_exp.get_finished_spans()),
    }
    all_spans = sorted((s for v in by_service.values() for s in v), key=lambda s: (s.start_time, s.context.span_id))

    # The SDK's own OTLP encoder -> ExportTraceServiceRequest, then the protobuf JSON mapping.
    request = encode_spans(all_spans)
    base = os.path.join(out_dir, args.name)
    write(base + ".json", MessageToJson(request, indent=2))
    write(base + "-proto-names.json", MessageToJson(request, indent=2, preserving_proto_field_name=True))
    # Collector-file-exporter-like JSON Lines: one compact request per export batch
    # (here: one per service, in the order the services start their first span).
    lines = []
    for svc in sorted(by_service, key=lambda k: min(s.start_time for s in by_service[k])):
        spans = sorted(by_service[svc], key=lambda s: (s.start_time, s.context.span_id))
        lines.append(json.dumps(MessageToDict(encode_spans(spans)), separators=(",", ":")))
    write(base + ".jsonl", "\n".join(lines))

    norm = []
    for svc, spans in by_service.items():
        norm += [normalized(s, svc) for s in spans]
    meta = {
        "scenario": "python_scenario.py",
        "fixtures": [os.path.basename(base) + ext for ext in (".json", "-proto-names.json", ".jsonl")],
        "encoding": "opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans + "
                    "google.protobuf.json_format.MessageToJson (protobuf JSON mapping: base64 ids, "
                    "enum names, int64 as strings)",
        "OTEL_SEMCONV_STABILITY_OPT_IN": os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", ""),
        "python": sys.version.split()[0],
        "packages": {p: pkg_version(p) for p in PACKAGES},
        "brokers": {"rabbitmq": f"{RABBIT_HOST}:{RABBIT_PORT}", "redis": f"{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"},
        "http_server_port": port,
        "handled_by_fulfillment": fulfillment.handled,
    }
    truth = ground_truth.compute(norm, meta)
    write(base + ".truth.json", json.dumps(truth, indent=2))

    lat = truth["messaging"]["delivery_latency_ms"]
    print(f"python_scenario: {len(all_spans)} spans from {len(by_service)} services -> {base}.json "
          f"(+ -proto-names.json, .jsonl, .truth.json); delivery latency ms min={lat['min']} max={lat['max']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
