// What connection state recovery costs and how fast it brings a session back, with the stock
// socket.io-client (WebSocket, header token) and the project's fake OpenAI-compatible upstream:
//   node bench/recovery.mjs [--runs 5] [--missed 100] [--connects 100]
// Prints: the time from the client's reconnect to the last replayed event with `--missed` events
// kept while it was away (p50/max over `--runs`; and from the new transport's open, i.e. the
// CONNECT and its replay alone), the storage a kept event takes in the user's
// SQLite outbox, and the connect time (p50/p99, `--connects` users each) with recovery on and off.
import { performance } from "node:perf_hooks";
import { execFileSync } from "node:child_process";
import { io } from "socket.io-client";
import { startGateway } from "../tests/support/gateway.mjs";
import { startFakeUpstream } from "../tests/support/fake-upstream.mjs";
import { startCutProxy } from "../tests/support/cut-proxy.mjs";
import { withToken } from "../tests/support/client.mjs";
import { pct, arg } from "./stats.mjs";

const RUNS = arg("runs", 5);
const MISSED = arg("missed", 100);
const CONNECTS = arg("connects", 100);
const ANSWER_MS = 1500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const up = await startFakeUpstream({ delayMs: 5 });
const common = {
  PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake",
  PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0",
};
const [on, off] = await Promise.all([
  startGateway({ vars: { ...common, MAX_DISCONNECTION_MS: "120000" } }),
  startGateway({ vars: common }),
]);
const proxy = await startCutProxy(on.port);

function waitFor(socket, event, ms = 20_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (x) => { clearTimeout(t); resolve(x); });
  });
}

/** One run: `MISSED` answers arrive while the client is away; then it reconnects. */
async function replayRun(run) {
  const user = `bench-recovery-${run}-${Date.now()}`;
  const socket = io(proxy.url, withToken("header", on.token(user), { transports: ["websocket"], reconnection: false }));
  try {
    await waitFor(socket, "session");
    const acks = [];
    for (let i = 0; i < MISSED; i++) {
      socket.emit("send-prompt", { prompt: `!delay:${ANSWER_MS} !chunks:1 p${i}` }, (a) => acks.push(a));
    }
    while (acks.length < MISSED) await sleep(5);
    proxy.cut();
    await sleep(ANSWER_MS + 1500); // every answer was kept while the client was away
    let got = 0;
    let last;
    socket.on("prompt-response", () => { if (++got === MISSED) last = performance.now(); });
    const t0 = performance.now();
    let opened;
    socket.io.once("open", () => { opened = performance.now() - t0; });
    socket.connect();
    await waitFor(socket, "connect");
    while (got < MISSED && performance.now() - t0 < 20_000) await sleep(1);
    if (!socket.recovered || got !== MISSED) throw new Error(`run ${run}: recovered ${socket.recovered}, ${got} of ${MISSED} replayed`);
    // Read while the session lives: a session the client ends takes its events with it.
    return { ms: last - t0, afterOpen: last - t0 - opened, storage: run === RUNS - 1 ? outboxBytes(on.stateDir) : undefined };
  } finally { socket.close(); }
}

/** Rows, payload and table+index bytes of every user object's outbox under the state directory. */
function outboxBytes(stateDir) {
  const script = `
import glob, json, sqlite3, sys
rows = payload = pages = 0
for f in glob.glob(sys.argv[1] + "/**/*.sqlite", recursive=True):
    db = sqlite3.connect("file:" + f + "?mode=ro", uri=True)
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name='outbox'").fetchone():
        continue
    n, p = db.execute("SELECT count(*), coalesce(sum(length(packet) + length(pid) + 16), 0) FROM outbox").fetchone()
    rows += n; payload += p
    try:
        pages += db.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('outbox', 'outbox_pid')").fetchone()[0]
    except sqlite3.Error:
        pages = None if pages == 0 else pages
print(json.dumps({"rows": rows, "payload": payload, "pages": pages}))
`;
  return JSON.parse(execFileSync("python3", ["-c", script, stateDir]).toString());
}

async function connectTimes(gw, label, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const socket = io(gw.url, withToken("header", gw.token(`bench-connect-${label}-${i}-${Date.now()}`), { transports: ["websocket"] }));
    await waitFor(socket, "connect");
    times.push(performance.now() - t0);
    socket.close();
  }
  return times;
}

try {
  console.log(`recovery: ${RUNS} runs, ${MISSED} events kept while the client was away, WebSocket`);
  const replay = [];
  const afterOpen = [];
  let storage;
  for (let r = 0; r < RUNS; r++) {
    const result = await replayRun(r);
    replay.push(result.ms);
    afterOpen.push(result.afterOpen);
    storage = result.storage ?? storage;
  }
  console.log(`  reconnect to last replayed event: p50 ${pct(replay, 50).toFixed(1)} ms, max ${Math.max(...replay).toFixed(1)} ms`);
  console.log(`    of which Engine.IO open to last replayed event (the CONNECT and its replay): p50 ${pct(afterOpen, 50).toFixed(1)} ms, max ${Math.max(...afterOpen).toFixed(1)} ms`);
  const { rows, payload, pages } = storage;
  const perRow = pages ? `, ${(pages / rows).toFixed(0)} B in SQLite pages (table + index)` : "";
  console.log(`  storage per kept event: ${(payload / rows).toFixed(0)} B counted against RECOVERY_MAX_BYTES${perRow} (${rows} rows)`);
  // Interleaved halves, so drift of the machine hits both alike.
  const half = Math.max(1, Math.floor(CONNECTS / 2));
  const onTimes = [];
  const offTimes = [];
  for (let k = 0; k < 2; k++) {
    offTimes.push(...(await connectTimes(off, `off${k}`, half)));
    onTimes.push(...(await connectTimes(on, `on${k}`, half)));
  }
  const line = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
  console.log(`  connect (new user, WebSocket, header token) with recovery off: ${line(offTimes)}`);
  console.log(`  connect (new user, WebSocket, header token) with recovery on:  ${line(onTimes)}`);
} finally {
  await proxy.close();
  await Promise.all([on.stop(), off.stop()]);
  await up.close();
}
