import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { startGateway } from "../tests/support/gateway.mjs";
import { pct } from "./stats.mjs";
const LOAD = { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" };
const extra = JSON.parse(process.argv[2] ?? "{}");
const gw = await startGateway({ vars: { ...LOAD, ...extra } });
async function raw(user) {
  const ws = new WebSocket(`${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, { headers: { Authorization: `Bearer ${gw.token(user)}` } });
  let waiting = null;
  const q = [];
  ws.on("message", (d) => { const m = d.toString(); if (m === "2") return ws.send("3"); if (waiting) { const w = waiting; waiting = null; w(m); } else q.push(m); });
  const nextMsg = () => q.length ? Promise.resolve(q.shift()) : new Promise((r) => { waiting = r; });
  await new Promise((r, j) => { ws.once("open", r); ws.once("error", j); });
  const open = await nextMsg(); if (!open.startsWith("0")) throw new Error(open);
  ws.send("40");
  const c = await nextMsg(); if (!c.startsWith("40")) throw new Error(c);
  return { ws, async rt(i) { const t0 = performance.now(); ws.send(`42["send-prompt",{"prompt":"p${i}"}]`); for (;;) { const m = await nextMsg(); if (m.startsWith('42["prompt-response"')) break; } return performance.now() - t0; } };
}
try {
  const s = await raw("one-" + Math.random());
  for (let i = 0; i < 50; i++) await s.rt(i);
  const a = []; for (let i = 0; i < 1000; i++) a.push(await s.rt(i));
  s.ws.close();
  const socks = [];
  for (let u = 0; u < 50; u++) socks.push(await raw(`m${u}-${Math.random()}`));
  await Promise.all(socks.map(async (s) => { for (let i = 0; i < 5; i++) await s.rt(i); }));
  const t0 = performance.now();
  const b = (await Promise.all(socks.map(async (s) => { const r = []; for (let i = 0; i < 200; i++) r.push(await s.rt(i)); return r; }))).flat();
  const secs = (performance.now() - t0) / 1000;
  socks.forEach((s) => s.ws.close());
  console.log(`RAW ${JSON.stringify(extra)} one p50 ${pct(a, 50).toFixed(2)} p99 ${pct(a, 99).toFixed(2)} | 50u ${(b.length / secs).toFixed(0)}/s p50 ${pct(b, 50).toFixed(1)}`);
} finally { await gw.stop(); }
