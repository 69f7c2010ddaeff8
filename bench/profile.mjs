// Where a prompt's time goes: a CPU profile of the runtime (its DevTools inspector) while one
// WebSocket sends sequential prompts to the echo processor, with the self time summed by
// function and by crate. Needs a build that keeps the wasm names section:
//   KEEP_WASM_NAMES=1 ./scripts/build-worker && [TOP=30] node bench/profile.mjs [prompts]
// Limits are off (PROMPT_RATE_PER_MINUTE=0, MAX_PROMPTS_IN_FLIGHT=0), as in the other benches, and so is
// history (HISTORY_MAX_ITEMS=0), whose one write per prompt would hide the rest (see the floor comparison).
import WebSocket from "ws";
import { startGateway } from "../tests/support/gateway.mjs";
import { withToken, connect, ask } from "../tests/support/client.mjs";

const PROMPTS = Number(process.argv[2] ?? 2000);
const TOP = Number(process.env.TOP ?? 30);

async function inspector(port) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = list.find((t) => t.webSocketDebuggerUrl) ?? list[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  let id = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(m.toString());
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  const send = (method, params = {}) => new Promise((resolve) => {
    id += 1;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  return { send, close: () => ws.close() };
}

/** The crate (or JS) a profiled function belongs to. */
function crateOf(node) {
  const name = node.callFrame.functionName || "(anonymous)";
  if (!node.callFrame.url.startsWith("wasm")) return name.startsWith("(") ? name : "JS";
  const m = name.match(/^<?&?(?:mut )?([a-z_][a-z0-9_]*)::/);
  return m ? m[1] : "wasm (other)";
}

const gw = await startGateway({ vars: { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", HISTORY_MAX_ITEMS: "0" } });
try {
  const s = await connect(gw.url, withToken("header", gw.token("profile-user"), { transports: ["websocket"] }));
  for (let i = 0; i < 100; i++) await ask(s, `warm ${i}`);
  const cdp = await inspector(gw.inspectorPort);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
  await cdp.send("Profiler.start");
  const t0 = performance.now();
  for (let i = 0; i < PROMPTS; i++) await ask(s, `profiled prompt ${i}`);
  const wall = performance.now() - t0;
  const { result } = await cdp.send("Profiler.stop");
  cdp.close();
  s.close();

  const p = result.profile;
  const dt = (p.endTime - p.startTime) / p.samples.length / 1000; // ms per sample
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = new Map();
  for (const sample of p.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  const byFn = new Map();
  const byCrate = new Map();
  let busy = 0;
  for (const [nodeId, n] of hits) {
    const node = byId.get(nodeId);
    const cf = node.callFrame;
    let name = cf.functionName || "(anonymous)";
    if (name === "(idle)") continue;
    if (!cf.functionName && cf.url) name = `(anonymous) ${cf.url.split("/").pop()}:${cf.lineNumber + 1}`;
    const ms = n * dt;
    busy += ms;
    byFn.set(name, (byFn.get(name) ?? 0) + ms);
    const c = crateOf(node);
    byCrate.set(c, (byCrate.get(c) ?? 0) + ms);
  }
  const perPrompt = (ms) => `${(ms / PROMPTS * 1000).toFixed(1)} us/prompt`;
  console.log(`${PROMPTS} sequential echo prompts on one WebSocket (header token): ${(wall / PROMPTS).toFixed(3)} ms per round trip; the runtime busy ${perPrompt(busy)} (samples every 50 us)`);
  console.log("\nself time by crate:");
  for (const [c, ms] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${perPrompt(ms).padStart(18)}  ${(ms / busy * 100).toFixed(1).padStart(5)}%  ${c}`);
  console.log(`\nself time by function (top ${TOP}):`);
  for (const [f, ms] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${perPrompt(ms).padStart(18)}  ${(ms / busy * 100).toFixed(1).padStart(5)}%  ${f.slice(0, 140)}`);
} finally {
  await gw.stop();
}
