import { performance } from "node:perf_hooks";
import { startGateway } from "../tests/support/gateway.mjs";
import { withToken, connect, next } from "../tests/support/client.mjs";
import { pct } from "./stats.mjs";
const LOAD = { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" };
const extra = JSON.parse(process.argv[2] ?? "{}");
const gw = await startGateway({ vars: { ...LOAD, ...extra } });
const rt = async (s, i) => { const t0 = performance.now(); const r = next(s, "prompt-response", 10000); s.emit("send-prompt", { prompt: `p${i}` }); await r; return performance.now() - t0; };
try {
  const s = await connect(gw.url, withToken("header", gw.token("one-" + Math.random()), { transports: ["websocket"] }));
  for (let i = 0; i < 50; i++) await rt(s, i);
  const a = []; for (let i = 0; i < 1000; i++) a.push(await rt(s, i));
  s.close();
  const socks = [];
  for (let u = 0; u < 50; u++) socks.push(await connect(gw.url, withToken("header", gw.token(`m${u}-${Math.random()}`), { transports: ["websocket"] })));
  await Promise.all(socks.map(async (s) => { for (let i = 0; i < 5; i++) await rt(s, i); }));
  const t0 = performance.now();
  const b = (await Promise.all(socks.map(async (s) => { const r = []; for (let i = 0; i < 100; i++) r.push(await rt(s, i)); return r; }))).flat();
  const secs = (performance.now() - t0) / 1000;
  socks.forEach((s) => s.close());
  console.log(`${JSON.stringify(extra)} one p50 ${pct(a, 50).toFixed(2)} p99 ${pct(a, 99).toFixed(2)} | 50u ${(b.length / secs).toFixed(0)}/s p50 ${pct(b, 50).toFixed(1)}`);
} finally { await gw.stop(); }
