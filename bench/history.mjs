// What prompt history costs per prompt: two gateways side by side, one with history on (the
// default HISTORY_MAX_ITEMS=200, so past 200 prompts every insert also drops the oldest row) and
// one with HISTORY_MAX_ITEMS=0, each with one WebSocket doing sequential echo prompts, in
// interleaved blocks of 100 so drift in the host's load hits both alike. Prints both round trips
// and the ratio of their p50s.
import { performance } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { startGateway } from "../tests/support/gateway.mjs";
import { withToken, connect, next } from "../tests/support/client.mjs";
import { pct, roundTrips } from "./stats.mjs";

const summary = (xs) => `p50 ${pct(xs, 50).toFixed(2)} ms, p90 ${pct(xs, 90).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms (n=${xs.length})`;

/** @param {{ prompts: number, warmup: number, load: Record<string,string> }} opts */
export async function benchHistory({ prompts, warmup, load }) {
  const run = randomUUID().slice(0, 8);
  const [on, off] = await Promise.all([
    startGateway({ vars: { ...load } }),
    startGateway({ vars: { ...load, HISTORY_MAX_ITEMS: "0" } }),
  ]);
  try {
    const ws = { transports: ["websocket"] };
    const sockets = {
      on: await connect(on.url, withToken("header", on.token(`bench-history-on-${run}`), ws)),
      off: await connect(off.url, withToken("header", off.token(`bench-history-off-${run}`), ws)),
    };
    // Past the warm-up the history is full, so the steady state (insert + drop) is measured.
    await roundTrips(sockets.on, Math.max(warmup, 200));
    await roundTrips(sockets.off, Math.max(warmup, 200));
    const rtt = { on: [], off: [] };
    for (let done = 0; done < prompts; done += 100) {
      const n = Math.min(100, prompts - done);
      rtt.on.push(...await roundTrips(sockets.on, n));
      rtt.off.push(...await roundTrips(sockets.off, n));
    }
    sockets.on.close();
    sockets.off.close();
    console.log(`prompt round trip, history on (HISTORY_MAX_ITEMS=200, full): ${summary(rtt.on)}`);
    console.log(`prompt round trip, history off (HISTORY_MAX_ITEMS=0): ${summary(rtt.off)}`);
    console.log(`history on / off, p50: ${(pct(rtt.on, 50) / pct(rtt.off, 50)).toFixed(2)}x`);
  } finally {
    await Promise.all([on.stop(), off.stop()]);
  }
}
