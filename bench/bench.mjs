// Prints the gateway's figures: wasm size, prompt round trips and connect times, measured
// against the built Worker under `wrangler dev --local` (run ./scripts/build-worker first).
//   node bench/bench.mjs [--prompts 1000] [--connects 100]
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startGateway, ROOT } from "../tests/support/gateway.mjs";
import { withToken, connect, next } from "../tests/support/client.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const PROMPTS = arg("prompts", 1000);
const CONNECTS = arg("connects", 100);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${x.toFixed(2)} ms`;

const wasm = readFileSync(join(ROOT, "build", "index_bg.wasm"));
console.log(`wasm module: ${wasm.length} bytes, ${gzipSync(wasm, { level: 9 }).length} bytes gzipped`);

const gw = await startGateway();
try {
  // Sequential prompts on one WebSocket: send, wait for the prompt-response, repeat.
  const s = await connect(gw.url, withToken("header", gw.token("bench-rtt"), { transports: ["websocket"] }));
  const rtts = [];
  for (let i = 0; i < PROMPTS; i++) {
    const t0 = performance.now();
    const r = next(s, "prompt-response");
    s.emit("send-prompt", { prompt: `p${i}` });
    await r;
    rtts.push(performance.now() - t0);
  }
  s.close();
  console.log(`prompt round trip over one WebSocket (${PROMPTS} sequential): p50 ${ms(pct(rtts, 50))}, p99 ${ms(pct(rtts, 99))}`);

  for (const [label, placement, opts] of [
    ["default transports (polling, then upgrade), auth-payload token", "auth", {}],
    ["default transports, header token", "header", {}],
    ["WebSocket only, header token", "header", { transports: ["websocket"] }],
    ["WebSocket only, auth-payload token (relayed)", "auth", { transports: ["websocket"] }],
  ]) {
    const times = [];
    for (let i = 0; i < CONNECTS; i++) {
      const t0 = performance.now();
      const c = await connect(gw.url, withToken(placement, gw.token(`bench-connect-${i}`), opts));
      times.push(performance.now() - t0);
      c.close();
    }
    console.log(`io() to connect, ${label} (${CONNECTS}): p50 ${ms(pct(times, 50))}, p99 ${ms(pct(times, 99))}`);
  }
} finally {
  await gw.stop();
}
