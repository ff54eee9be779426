// Parses a Mermaid flowchart with Mermaid's own parser and prints what it read: the
// diagram type, each vertex's text and each edge's text, with Mermaid's entity codes
// (`#quot;`, `#35;`) decoded as Mermaid decodes them when it draws.
import { JSDOM } from 'jsdom';
import fs from 'node:fs';

const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
globalThis.Element = dom.window.Element;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

const named = { quot: '"', amp: '&', lt: '<', gt: '>', nbsp: '\u00a0' };
// Mermaid's encodeEntities marks `#NN;` as ﬂ°°NN¶ß and `#name;` as ﬂ°name¶ß.
const decode = (s) =>
  String(s)
    .replace(/ﬂ°°(\d+)¶ß/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/ﬂ°(\w+)¶ß/g, (m, n) => named[n] ?? m);

const text = fs.readFileSync(process.argv[2], 'utf8');
try {
  const parsed = await mermaid.parse(text);
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
  const db = diagram.db;
  const out = { type: parsed.diagramType, vertices: {}, edges: [] };
  const vertices = db.getVertices();
  for (const [id, v] of vertices instanceof Map ? vertices : Object.entries(vertices)) {
    out.vertices[id] = decode(v.text);
  }
  for (const e of db.getEdges()) {
    out.edges.push({ start: e.start, end: e.end, text: decode(e.text) });
  }
  console.log(JSON.stringify(out));
} catch (e) {
  console.error('mermaid: ' + (e && e.message ? e.message : e));
  process.exit(1);
}
