#!/usr/bin/env node
'use strict';
/*
 * One run of a small shop, traced by the real OpenTelemetry JS instrumentations
 * (http, amqplib, ioredis) against the local RabbitMQ and Redis, serialized by
 * @opentelemetry/otlp-transformer's JsonTraceSerializer (OTLP/JSON: hex ids,
 * integer enums, int64 nanoseconds as strings).
 *
 *   checkout --HTTP POST x3--> orders-api --SET/INCR (ioredis)--> redis
 *   orders-api --amqplib publish exchange "shop" (topic), rk "order.created"--> queue "billing"
 *   queue billing --amqplib consume--> billing --HSET--> redis   (order 2 is nack'ed: failed handling)
 *
 * Each service is its own Node process (forked from this one with --role), with
 * its own TracerProvider (resource service.name), its own instrumentations and
 * an InMemorySpanExporter behind a SimpleSpanProcessor, as a real deployment
 * would be. Each child serializes its finished spans with
 * JsonTraceSerializer.serializeRequest() and sends the bytes, plus a plain copy
 * of the ReadableSpan fields for ground_truth.py, to the parent.
 *
 * Parent writes into --out (default ../../fixtures/instrumented):
 *   <name>.json        one ExportTraceServiceRequest: the children's resourceSpans
 *                      concatenated (what the serializer gives for all spans at once),
 *                      re-indented with 2 spaces
 *   <name>.jsonl       each child's serializer output byte for byte, one per line
 *   <name>.truth.json  ground truth from the SDK spans (../ground_truth.py, run with python3)
 *
 * --links: configure the amqplib instrumentation with useLinksForConsume, so the
 * consumer span starts a new trace with a link to the producer span.
 * Exit status 2 with a message when RabbitMQ or Redis can't be reached.
 */

const path = require('path');
const fs = require('fs');
const { fork, execFileSync } = require('child_process');

const RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';
const REDIS = { host: '127.0.0.1', port: 6379, db: 0 };
const EXCHANGE = 'shop';
const ROUTING_KEY = 'order.created';
const QUEUE = 'billing';
const N_ORDERS = 3;
const FAILING_ORDER = 2;
const TIMEOUT_MS = 30000;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const ROLE = arg('--role', null);
const USE_LINKS = process.argv.includes('--links');

function die(msg) {
  console.error(`node_scenario: ${msg}`);
  process.exit(2);
}

// --------------------------------------------------------------------- children
function setupTracing(service) {
  const api = require('@opentelemetry/api');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
  const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis');

  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': service })),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  api.trace.setGlobalTracerProvider(provider);
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation(),
      new AmqplibInstrumentation({ useLinksForConsume: USE_LINKS }),
      new IORedisInstrumentation(),
    ],
  });
  return { api, provider, exporter };
}

function hrToNs(hr) {
  return (BigInt(Math.trunc(hr[0])) * 1000000000n + BigInt(Math.trunc(hr[1]))).toString();
}

const KIND = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS = ['UNSET', 'OK', 'ERROR'];

// The ReadableSpan fields, copied without interpretation, in the shape ground_truth.py reads.
function normalized(span, service) {
  const ctx = span.spanContext();
  const parent = span.parentSpanContext;
  return {
    service,
    scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version || '' },
    name: span.name,
    kind: KIND[span.kind],
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    parent_span_id: parent ? parent.spanId : null,
    start_ns: hrToNs(span.startTime),
    end_ns: hrToNs(span.endTime),
    status: { code: STATUS[span.status.code], message: span.status.message || null },
    attributes: { ...span.attributes },
    events: span.events.map((e) => ({ name: e.name, attributes: { ...(e.attributes || {}) } })),
    links: span.links.map((l) => ({
      trace_id: l.context.traceId, span_id: l.context.spanId, attributes: { ...(l.attributes || {}) },
    })),
  };
}

async function sendSpans(t, service) {
  await t.provider.forceFlush();
  const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
  const spans = t.exporter.getFinishedSpans();
  const otlp = Buffer.from(JsonTraceSerializer.serializeRequest(spans)).toString('utf8');
  await new Promise((resolve) => process.send({
    type: 'spans', service, otlp, normalized: spans.map((s) => normalized(s, service)),
  }, resolve));
}

function onParent(type) {
  return new Promise((resolve) => {
    const h = (m) => { if (m && m.type === type) { process.off('message', h); resolve(m); } };
    process.on('message', h);
  });
}

async function roleBilling() {
  const t = setupTracing('billing');
  const amqp = require('amqplib');
  const Redis = require('ioredis');
  const redis = new Redis(REDIS);
  const conn = await amqp.connect(RABBIT_URL);
  const ch = await conn.createChannel();
  await ch.prefetch(1);
  const handled = [];
  let doneResolve;
  const done = new Promise((r) => { doneResolve = r; });
  await ch.consume(QUEUE, async (msg) => {
    const order = JSON.parse(msg.content.toString());
    try {
      await redis.hset(`billing:order:${order.order_id}`, 'status',
        order.order_id === FAILING_ORDER ? 'declined' : 'charged', 'amount', String(order.qty * 10));
      if (order.order_id === FAILING_ORDER) {
        throw new Error(`billing: card declined for order ${order.order_id}`);
      }
      ch.ack(msg);
      handled.push([msg.properties.messageId, 'ok']);
    } catch (e) {
      // Failed handling: the amqplib instrumentation ends the consumer span with
      // status ERROR when the message is nack'ed.
      ch.nack(msg, false, false);
      handled.push([msg.properties.messageId, 'failed']);
    }
    if (handled.length === N_ORDERS) doneResolve();
  }, { consumerTag: 'billing' });
  process.send({ type: 'ready' });
  await Promise.race([done, new Promise((_, rej) => setTimeout(
    () => rej(new Error(`billing handled ${handled.length} of ${N_ORDERS} messages in ${TIMEOUT_MS} ms`)), TIMEOUT_MS).unref())]);
  process.send({ type: 'handled', handled });
  await onParent('flush');
  await ch.close();
  await conn.close();
  redis.disconnect();
  await sendSpans(t, 'billing');
}

async function roleOrdersApi() {
  const t = setupTracing('orders-api');
  const http = require('http');
  const amqp = require('amqplib');
  const Redis = require('ioredis');
  const redis = new Redis(REDIS);
  const conn = await amqp.connect(RABBIT_URL);
  const ch = await conn.createChannel();
  await ch.assertExchange(EXCHANGE, 'topic', { durable: false });
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/orders') {
      res.writeHead(404); res.end('not found'); return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        const order = JSON.parse(Buffer.concat(chunks).toString());
        const n = order.order_id;
        await redis.set(`order:${n}`, JSON.stringify(order));
        const total = await redis.incr('orders:count');
        ch.publish(EXCHANGE, ROUTING_KEY, Buffer.from(JSON.stringify(order)), {
          messageId: `order-${n}`, contentType: 'application/json', persistent: false,
        });
        const body = JSON.stringify({ order_id: n, accepted: true, orders_total: total });
        res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      } catch (e) {
        res.writeHead(500); res.end(String(e));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.send({ type: 'ready', port: server.address().port });
  await onParent('flush');
  await new Promise((r) => server.close(r));
  await ch.close();
  await conn.close();
  redis.disconnect();
  await sendSpans(t, 'orders-api');
}

async function roleCheckout() {
  const t = setupTracing('checkout');
  const http = require('http');
  const port = Number(arg('--port'));
  const tracer = t.api.trace.getTracer('checkout');
  const agent = new http.Agent({ keepAlive: true });
  const post = (body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port, path: '/orders', method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
  for (let n = 1; n <= N_ORDERS; n++) {
    await tracer.startActiveSpan('place order', { kind: t.api.SpanKind.INTERNAL, attributes: { 'order.id': n } },
      async (span) => {
        try {
          const res = await post({ order_id: n, sku: `SKU-${100 + n}`, qty: n });
          if (res.status !== 201) {
            span.setStatus({ code: t.api.SpanStatusCode.ERROR, message: `HTTP ${res.status}` });
            throw new Error(`orders-api answered ${res.status} for order ${n}: ${res.body}`);
          }
        } finally {
          span.end();
        }
      });
  }
  agent.destroy();
  process.send({ type: 'posted' });
  await onParent('flush');
  await sendSpans(t, 'checkout');
}

// ----------------------------------------------------------------------- parent
async function preflight() {
  const amqp = require('amqplib');
  const Redis = require('ioredis');
  let conn;
  try {
    conn = await amqp.connect(RABBIT_URL, { timeout: 5000 });
  } catch (e) {
    die(`RabbitMQ unreachable at ${RABBIT_URL.replace(/\/\/.*@/, '//')} (${e.message}); start it with \`rabbitmq-server -detached\``);
  }
  const ch = await conn.createChannel();
  await ch.assertExchange(EXCHANGE, 'topic', { durable: false });
  await ch.assertQueue(QUEUE, { durable: false });
  await ch.bindQueue(QUEUE, EXCHANGE, ROUTING_KEY);
  await ch.purgeQueue(QUEUE);
  await ch.close();
  await conn.close();
  const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    die(`Redis unreachable at ${REDIS.host}:${REDIS.port} (${e.message}); start it with \`redis-server --daemonize yes ...\``);
  }
  const keys = ['orders:count'];
  for (let i = 1; i <= N_ORDERS; i++) keys.push(`order:${i}`, `billing:order:${i}`);
  await redis.del(...keys);
  redis.disconnect();
}

function startChild(role, extra = []) {
  const child = fork(__filename, ['--role', role, ...(USE_LINKS ? ['--links'] : []), ...extra],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.msgs = [];
  child.waiters = [];
  child.on('message', (m) => {
    child.msgs.push(m);
    child.waiters = child.waiters.filter(([type, resolve]) => (m.type === type ? (resolve(m), false) : true));
  });
  child.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  child.exited.then((code) => {
    if (code !== 0) die(`${role} exited with status ${code}`);
  });
  child.waitFor = (type) => {
    const m = child.msgs.find((x) => x.type === type);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      child.waiters.push([type, resolve]);
      setTimeout(() => reject(new Error(`${role}: no '${type}' within ${TIMEOUT_MS} ms`)), TIMEOUT_MS).unref();
    });
  };
  return child;
}

async function parent() {
  const outDir = path.resolve(arg('--out', path.join(__dirname, '..', '..', 'fixtures', 'instrumented')));
  const name = arg('--name', USE_LINKS ? 'node-amqplib-http-links' : 'node-amqplib-http');
  fs.mkdirSync(outDir, { recursive: true });
  await preflight();

  const billing = startChild('billing');
  await billing.waitFor('ready');
  const api = startChild('orders-api');
  const { port } = await api.waitFor('ready');
  const checkout = startChild('checkout', ['--port', String(port)]);
  await checkout.waitFor('posted');
  const { handled } = await billing.waitFor('handled');

  const children = [checkout, api, billing];
  for (const c of children) c.send({ type: 'flush' });
  const results = [];
  for (const c of children) results.push(await c.waitFor('spans'));
  await Promise.all(children.map((c) => c.exited));

  const requests = results.map((r) => JSON.parse(r.otlp));
  const merged = { resourceSpans: requests.flatMap((r) => r.resourceSpans) };
  const base = path.join(outDir, name);
  fs.writeFileSync(`${base}.json`, JSON.stringify(merged, null, 2) + '\n');
  fs.writeFileSync(`${base}.jsonl`, results.map((r) => r.otlp).join('\n') + '\n');

  const normalizedSpans = results.flatMap((r) => r.normalized);
  const pkgs = {};
  for (const p of ['@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-trace',
    '@opentelemetry/resources', '@opentelemetry/core', '@opentelemetry/context-async-hooks',
    '@opentelemetry/otlp-transformer', '@opentelemetry/instrumentation', '@opentelemetry/instrumentation-http',
    '@opentelemetry/instrumentation-amqplib', '@opentelemetry/instrumentation-ioredis',
    '@opentelemetry/semantic-conventions', 'amqplib', 'ioredis']) {
    pkgs[p] = require(path.join(__dirname, 'node_modules', p, 'package.json')).version;
  }
  const meta = {
    scenario: 'node/node_scenario.js' + (USE_LINKS ? ' --links' : ''),
    fixtures: [`${name}.json`, `${name}.jsonl`],
    encoding: '@opentelemetry/otlp-transformer JsonTraceSerializer.serializeRequest (OTLP/JSON: hex ids, '
      + 'integer enums, int64 as strings); one process per service, resourceSpans concatenated',
    amqplib_instrumentation_config: { useLinksForConsume: USE_LINKS },
    OTEL_SEMCONV_STABILITY_OPT_IN: process.env.OTEL_SEMCONV_STABILITY_OPT_IN || '',
    node: process.version,
    packages: pkgs,
    brokers: { rabbitmq: '127.0.0.1:5672', redis: `${REDIS.host}:${REDIS.port}/${REDIS.db}` },
    topology: { exchange: EXCHANGE, exchange_type: 'topic', routing_key: ROUTING_KEY, queue: QUEUE },
    http_server_port: port,
    handled_by_billing: handled,
  };
  const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'eventlens-node-'));
  fs.writeFileSync(path.join(tmp, 'spans.json'), JSON.stringify(normalizedSpans));
  fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta));
  const python = process.env.PYTHON || 'python3';
  execFileSync(python, [path.join(__dirname, '..', 'ground_truth.py'), path.join(tmp, 'spans.json'),
    `${base}.truth.json`, '--meta', path.join(tmp, 'meta.json')], { stdio: 'inherit' });
  fs.rmSync(tmp, { recursive: true, force: true });
  const truth = JSON.parse(fs.readFileSync(`${base}.truth.json`, 'utf8'));
  const lat = truth.messaging.delivery_latency_ms;
  console.log(`node_scenario: ${normalizedSpans.length} spans from ${results.length} services -> ${base}.json `
    + `(+ .jsonl, .truth.json); delivery latency ms min=${lat.min} max=${lat.max}`);
}

const roles = { billing: roleBilling, 'orders-api': roleOrdersApi, checkout: roleCheckout };
if (ROLE) {
  roles[ROLE]().then(() => process.exit(0), (e) => { console.error(`node_scenario[${ROLE}]:`, e); process.exit(1); });
} else {
  parent().then(() => process.exit(0), (e) => { console.error('node_scenario:', e.message || e); process.exit(1); });
}
