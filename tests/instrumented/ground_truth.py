#!/usr/bin/env python3
"""Ground truth for the instrumented fixtures, computed from the SDK's own spans.

Input: a list of "normalized spans", i.e. the fields of the finished span
objects the OpenTelemetry SDK handed to its exporter (Python ReadableSpan or
Node ReadableSpan), copied one to one without interpretation:

    {"service": str,                      # resource attribute service.name
     "scope": {"name": str, "version": str},
     "name": str, "kind": "INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER",
     "trace_id": hex32, "span_id": hex16, "parent_span_id": hex16 | None,
     "start_ns": int|str, "end_ns": int|str,
     "status": {"code": "UNSET|OK|ERROR", "message": str|None},
     "attributes": {...}, "events": [{"name", "attributes"}],
     "links": [{"trace_id", "span_id", "attributes"}]}

Nothing here reads eventlens output. Only the standard library is used, so the
Node scenario can call this file too:

    python3 ground_truth.py NORMALIZED_SPANS.json TRUTH_OUT.json [--meta META.json]
    python3 ground_truth.py --check TRUTH.json child_of_producer|linked_to_producer
"""

from __future__ import annotations

import base64
import json
import sys
from collections import Counter, defaultdict

KINDS = ["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]

# Attribute keys, old and new semantic conventions, read in this order.
HTTP_METHOD_KEYS = ["http.request.method", "http.method"]
HTTP_STATUS_KEYS = ["http.response.status_code", "http.status_code"]
HTTP_URL_KEYS = ["url.full", "http.url"]
MSG_DEST_KEYS = ["messaging.destination.name", "messaging.destination"]
MSG_ID_KEYS = ["messaging.message.id", "messaging.message_id"]
MSG_OP_KEYS = ["messaging.operation.type", "messaging.operation"]
DB_SYSTEM_KEYS = ["db.system.name", "db.system"]
PEER_NAME_KEYS = ["server.address", "net.peer.name"]
PEER_PORT_KEYS = ["server.port", "net.peer.port"]
DB_INDEX_KEYS = ["db.namespace", "db.redis.database_index"]
DB_OP_KEYS = ["db.operation.name", "db.operation"]
DB_STMT_KEYS = ["db.query.text", "db.statement"]


def first(attrs: dict, keys: list[str]):
    for k in keys:
        if k in attrs:
            return attrs[k]
    return None


def first_key(attrs: dict, keys: list[str]):
    for k in keys:
        if k in attrs:
            return k
    return None


def b64(hex_id: str | None) -> str | None:
    if hex_id is None:
        return None
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def span_ref(s: dict) -> dict:
    return {
        "service": s["service"],
        "name": s["name"],
        "kind": s["kind"],
        "trace_id": s["trace_id"],
        "span_id": s["span_id"],
        "parent_span_id": s["parent_span_id"],
        "trace_id_base64": b64(s["trace_id"]),
        "span_id_base64": b64(s["span_id"]),
        "start_time_unix_nano": s["start_ns"],
        "end_time_unix_nano": s["end_ns"],
        "duration_ms": ms(s["end_ns"] - s["start_ns"]),
        "status": s["status"],
    }


def normalize(spans: list[dict]) -> list[dict]:
    out = []
    for s in spans:
        s = dict(s)
        s["start_ns"] = int(s["start_ns"])
        s["end_ns"] = int(s["end_ns"])
        s.setdefault("links", [])
        s.setdefault("events", [])
        out.append(s)
    out.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return out


def store_name(e: dict) -> str:
    """db_system@peer:port[/database index], e.g. redis@127.0.0.1:6379/0."""
    name = f'{e["db_system"]}@{e["peer_name"]}:{e["peer_port"]}'
    return name if e["database_index"] is None else f'{name}/{e["database_index"]}'


def relation(producer: dict, consumer: dict) -> str:
    """How the consumer span is tied to the producer span."""
    if consumer["parent_span_id"] == producer["span_id"] and consumer["trace_id"] == producer["trace_id"]:
        return "child_of_producer"
    for l in consumer["links"]:
        if l["span_id"] == producer["span_id"] and l["trace_id"] == producer["trace_id"]:
            return "linked_to_producer"
    if consumer["trace_id"] == producer["trace_id"]:
        return "same_trace_not_parent"
    return "unrelated"


def compute(spans: list[dict], meta: dict | None = None) -> dict:
    spans = normalize(spans)
    by_id = {s["span_id"]: s for s in spans}

    services = sorted({s["service"] for s in spans})
    kinds_by_service = {
        svc: {k: sum(1 for s in spans if s["service"] == svc and s["kind"] == k) for k in KINDS}
        for svc in services
    }
    kinds_total = {k: sum(1 for s in spans if s["kind"] == k) for k in KINDS}
    trace_ids = sorted({s["trace_id"] for s in spans})

    # ---------------------------------------------------------------- messaging
    producers = [s for s in spans if s["kind"] == "PRODUCER"]
    consumers = [s for s in spans if s["kind"] == "CONSUMER"]
    msg_spans = []
    for s in producers + consumers:
        r = span_ref(s)
        r["scope"] = s["scope"]
        r["attributes"] = s["attributes"]
        r["attribute_keys"] = sorted(s["attributes"])
        r["links"] = s["links"]
        r["events"] = [e["name"] for e in s["events"]]
        msg_spans.append(r)

    messages = []
    for c in consumers:
        cid = first(c["attributes"], MSG_ID_KEYS)
        # The producer of this message: the parent span if it is a PRODUCER,
        # else a linked PRODUCER, else the PRODUCER with the same message id.
        p = by_id.get(c["parent_span_id"])
        how = "parent_span_id"
        if p is None or p["kind"] != "PRODUCER":
            p = None
            for l in c["links"]:
                cand = by_id.get(l["span_id"])
                if cand is not None and cand["kind"] == "PRODUCER":
                    p, how = cand, "link"
                    break
        if p is None and cid is not None:
            cands = [x for x in producers if first(x["attributes"], MSG_ID_KEYS) == cid]
            if len(cands) == 1:
                p, how = cands[0], "message_id"
        entry = {
            "message_id": cid,
            "consumer_service": c["service"],
            "consumer_span_id": c["span_id"],
            "consumer_span_name": c["name"],
            "consumer_destination": first(c["attributes"], MSG_DEST_KEYS),
            "consumer_start_unix_nano": c["start_ns"],
            "consumer_status": c["status"]["code"],
            "consumer_failed": c["status"]["code"] == "ERROR",
            "producer_found_by": how if p else None,
        }
        if p is not None:
            entry.update({
                "producer_service": p["service"],
                "producer_span_id": p["span_id"],
                "producer_span_name": p["name"],
                "producer_destination": first(p["attributes"], MSG_DEST_KEYS),
                "producer_message_id": first(p["attributes"], MSG_ID_KEYS),
                "producer_start_unix_nano": p["start_ns"],
                "delivery_latency_ns": c["start_ns"] - p["start_ns"],
                "delivery_latency_ms": ms(c["start_ns"] - p["start_ns"]),
                "relation": relation(p, c),
                "same_trace": p["trace_id"] == c["trace_id"],
                "trace_id": c["trace_id"],
            })
        messages.append(entry)
    messages.sort(key=lambda m: m["consumer_start_unix_nano"])
    lat = [m["delivery_latency_ms"] for m in messages if "delivery_latency_ms" in m]
    rels = Counter(m.get("relation", "no_producer") for m in messages)

    def keyset(spans_):
        return sorted(set().union(*[set(s["attributes"]) for s in spans_])) if spans_ else []

    # Destination edges: producer service -> destination -> consumer service.
    publish_edges = Counter((p["service"], first(p["attributes"], MSG_DEST_KEYS),
                             p["attributes"].get("messaging.system")) for p in producers)
    consume_edges = Counter((first(c["attributes"], MSG_DEST_KEYS), c["service"],
                             c["attributes"].get("messaging.system")) for c in consumers)
    consume_err = Counter((first(c["attributes"], MSG_DEST_KEYS), c["service"])
                          for c in consumers if c["status"]["code"] == "ERROR")

    messaging = {
        "producer_attribute_keys": keyset(producers),
        "consumer_attribute_keys": keyset(consumers),
        "destination_key_used": sorted({first_key(s["attributes"], MSG_DEST_KEYS) for s in producers + consumers} - {None}),
        "message_id_key_used": sorted({first_key(s["attributes"], MSG_ID_KEYS) for s in producers + consumers} - {None}),
        "operation_key_used": sorted({first_key(s["attributes"], MSG_OP_KEYS) for s in producers + consumers} - {None}),
        "consumer_to_producer_relation": dict(rels),
        "publish_edges": [
            {"producer_service": a, "destination": d, "messaging_system": sys_, "count": n}
            for (a, d, sys_), n in sorted(publish_edges.items(), key=str)
        ],
        "consume_edges": [
            {"destination": d, "consumer_service": b, "messaging_system": sys_, "count": n,
             "errors": consume_err[(d, b)]}
            for (d, b, sys_), n in sorted(consume_edges.items(), key=str)
        ],
        "messages": messages,
        "delivery_latency_ms": {
            "count": len(lat),
            "min": min(lat) if lat else None,
            "max": max(lat) if lat else None,
            "mean": round(sum(lat) / len(lat), 3) if lat else None,
        },
        "failed_handlings": sum(1 for m in messages if m["consumer_failed"]),
        "spans": msg_spans,
    }

    # --------------------------------------------------------------------- HTTP
    http_clients = [s for s in spans if s["kind"] == "CLIENT" and first(s["attributes"], HTTP_METHOD_KEYS)]
    http_servers = [s for s in spans if s["kind"] == "SERVER"]
    calls = []
    for cl in http_clients:
        servers = [sv for sv in http_servers if sv["parent_span_id"] == cl["span_id"]]
        sv = servers[0] if servers else None
        status = first(cl["attributes"], HTTP_STATUS_KEYS)
        calls.append({
            "client_service": cl["service"],
            "server_service": sv["service"] if sv else None,
            "client_span_id": cl["span_id"],
            "client_span_name": cl["name"],
            "server_span_id": sv["span_id"] if sv else None,
            "server_span_name": sv["name"] if sv else None,
            "server_is_child_of_client": sv is not None,
            "trace_id": cl["trace_id"],
            "method": first(cl["attributes"], HTTP_METHOD_KEYS),
            "url": first(cl["attributes"], HTTP_URL_KEYS),
            "status_code": status,
            "client_status": cl["status"]["code"],
            "error": cl["status"]["code"] == "ERROR" or (isinstance(status, int) and status >= 500),
            "client_start_unix_nano": cl["start_ns"],
            "client_duration_ms": ms(cl["end_ns"] - cl["start_ns"]),
            "server_duration_ms": ms(sv["end_ns"] - sv["start_ns"]) if sv else None,
        })
    http_edges = Counter((c["client_service"], c["server_service"]) for c in calls)
    http_errors = Counter((c["client_service"], c["server_service"]) for c in calls if c["error"])
    http = {
        "client_attribute_keys": keyset(http_clients),
        "server_attribute_keys": keyset(http_servers),
        "edges": [
            {"client_service": a, "server_service": b, "count": n, "errors": http_errors[(a, b)],
             "client_duration_ms": [c["client_duration_ms"] for c in calls
                                    if (c["client_service"], c["server_service"]) == (a, b)]}
            for (a, b), n in sorted(http_edges.items(), key=str)
        ],
        "calls": calls,
    }

    # ---------------------------------------------------------------- databases
    db_spans = [s for s in spans if s["kind"] == "CLIENT" and first(s["attributes"], DB_SYSTEM_KEYS)]
    db_edges = defaultdict(lambda: {"count": 0, "errors": 0, "commands": Counter()})
    for s in db_spans:
        a = s["attributes"]
        key = (s["service"], first(a, DB_SYSTEM_KEYS), first(a, PEER_NAME_KEYS),
               first(a, PEER_PORT_KEYS), first(a, DB_INDEX_KEYS))
        e = db_edges[key]
        e["count"] += 1
        e["errors"] += s["status"]["code"] == "ERROR"
        e["commands"][s["name"]] += 1
    db = {
        "attribute_keys": keyset(db_spans),
        "edges": [
            {"service": k[0], "db_system": k[1], "peer_name": k[2], "peer_port": k[3],
             "database_index": k[4], "count": v["count"], "errors": v["errors"],
             "span_names": dict(sorted(v["commands"].items()))}
            for k, v in sorted(db_edges.items(), key=lambda kv: str(kv[0]))
        ],
        "spans": [dict(span_ref(s), attributes=s["attributes"]) for s in db_spans],
    }

    errors = [dict(span_ref(s), events=[e["name"] for e in s["events"]]) for s in spans if s["status"]["code"] == "ERROR"]

    out = {
        "about": "Computed from the finished spans the OpenTelemetry SDK handed to its exporter, "
                 "not from eventlens. Ids are lowercase hex (base64 copies given for the protobuf-JSON fixtures). "
                 "Times are Unix nanoseconds; delivery latency = consumer span start - producer span start.",
        "meta": meta or {},
        "services": services,
        "span_count": len(spans),
        "trace_count": len(trace_ids),
        "trace_ids": trace_ids,
        "span_kinds_total": kinds_total,
        "span_kinds_by_service": kinds_by_service,
        "scopes_by_service": {
            svc: sorted({f'{s["scope"]["name"]}@{s["scope"].get("version") or ""}' for s in spans if s["service"] == svc})
            for svc in services
        },
        "error_spans": errors,
        "messaging": messaging,
        "http": http,
        "databases": db,
        "topology_edges": (
            [{"from": c["client_service"], "to": c["server_service"], "type": "http", "count": c["count"],
              "errors": c["errors"]} for c in http["edges"]]
            + [{"from": e["producer_service"], "to": e["destination"], "type": "publish",
                "count": e["count"], "errors": 0} for e in messaging["publish_edges"]]
            + [{"from": e["destination"], "to": e["consumer_service"], "type": "consume",
                "count": e["count"], "errors": e["errors"]} for e in messaging["consume_edges"]]
            + [{"from": e["service"], "to": store_name(e),
                "type": "database", "count": e["count"], "errors": e["errors"]} for e in db["edges"]]
        ),
    }
    return out


def check(truth: dict, relation_expected: str) -> list[str]:
    """The scenario's fixed structure; a regeneration that differs is a failure."""
    problems = []

    def want(what, got, expected):
        if got != expected:
            problems.append(f"{what}: got {got!r}, expected {expected!r}")

    want("services", len(truth["services"]), 3)
    want("span_count", truth["span_count"], 24)
    want("span kinds", truth["span_kinds_total"],
         {"INTERNAL": 3, "SERVER": 3, "CLIENT": 12, "PRODUCER": 3, "CONSUMER": 3})
    m = truth["messaging"]
    want("messages", len(m["messages"]), 3)
    want("failed handlings", m["failed_handlings"], 1)
    want("consumer/producer relation", m["consumer_to_producer_relation"], {relation_expected: 3})
    want("latencies", m["delivery_latency_ms"]["count"], 3)
    if m["delivery_latency_ms"]["min"] is not None and m["delivery_latency_ms"]["min"] < 0:
        problems.append("negative delivery latency")
    want("http edges", [(e["count"], e["errors"]) for e in truth["http"]["edges"]], [(3, 0)])
    want("db spans", sum(e["count"] for e in truth["databases"]["edges"]), 9)
    return problems


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "--check":
        # ground_truth.py --check TRUTH.json RELATION
        with open(argv[2]) as f:
            problems = check(json.load(f), argv[3])
        for p in problems:
            print(f"{argv[2]}: {p}", file=sys.stderr)
        return 1 if problems else 0
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    meta = {}
    if len(argv) >= 5 and argv[3] == "--meta":
        with open(argv[4]) as f:
            meta = json.load(f)
    with open(argv[1]) as f:
        spans = json.load(f)
    truth = compute(spans, meta)
    with open(argv[2], "w") as f:
        json.dump(truth, f, indent=2, sort_keys=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
