// What the benches share: their command-line options, percentiles, their one-line summary, and
// sequential prompt round trips.
import { performance } from "node:perf_hooks";
import { next } from "../tests/support/client.mjs";

/** The value after `--name` on the command line, as given, or `fallback`. */
export const argText = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

/** The number after `--name` on the command line, or `fallback`. */
export const arg = (name, fallback) => {
  const v = argText(name);
  return v === undefined ? fallback : Number(v);
};

/** The p-th percentile of `xs` (nearest rank). */
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const ms = (x) => `${x.toFixed(1)} ms`;

/** `p50 …, p90 …, p99 … (n=…)` in ms. */
export const summary = (xs) => `p50 ${ms(pct(xs, 50))}, p90 ${ms(pct(xs, 90))}, p99 ${ms(pct(xs, 99))} (n=${xs.length})`;

/** `n` sequential `send-prompt` -> `prompt-response` round trips on `s`, in ms. */
export async function roundTrips(s, n) {
  const rtts = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = next(s, "prompt-response");
    s.emit("send-prompt", { prompt: `p${i}` });
    await r;
    rtts.push(performance.now() - t0);
  }
  return rtts;
}
