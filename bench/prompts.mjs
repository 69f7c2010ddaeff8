// What the gateway adds to a streamed answer: the same fake OpenAI-compatible upstream is called
// directly (fetch, reading its server-sent events) and through the gateway (socket.io-client,
// `stream: true`), interleaved, with 50 users x 10 prompts of 100 chunks each by default.
//   node bench/prompts.mjs [--users 50] [--prompts 10] [--chunks 100] [--delay-ms 5]
// Prints first-chunk latency and whole-stream time for both (p50/p99) and their difference,
// the prompt-chunk events per prompt after coalescing, and whether any chunk was lost,
// duplicated or reordered. The gateway runs with the prompt limits off (load would trip them).
import { performance } from "node:perf_hooks";
import { startGateway } from "../tests/support/gateway.mjs";
import { startFakeUpstream } from "../tests/support/fake-upstream.mjs";
import { connect, withToken } from "../tests/support/client.mjs";
import { pct, arg } from "./stats.mjs";

const USERS = arg("users", 50);
const PROMPTS = arg("prompts", 10);
const CHUNKS = arg("chunks", 100);
const DELAY = arg("delay-ms", 5);

const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;

const up = await startFakeUpstream({ delayMs: DELAY });
const gw = await startGateway({
  vars: {
    PROMPT_PROCESSOR: "openai", PROMPT_UPSTREAM_URL: `${up.url}/v1`, PROMPT_MODEL: "fake",
    PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0", CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0",
  },
});
const prompt = `!delay:${DELAY} !chunks:${CHUNKS} bench`;
const expected = Array.from({ length: CHUNKS }, (_, k) => `w${k} `).join("");

/** One prompt straight to the upstream: first byte of content, then the whole stream. */
async function direct() {
  const t0 = performance.now();
  const res = await fetch(`${up.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ model: "fake", stream: true, messages: [{ role: "user", content: prompt }] }),
  });
  let first;
  let text = "";
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = ev.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const delta = JSON.parse(data).choices?.[0]?.delta?.content ?? "";
      if (delta && first === undefined) first = performance.now() - t0;
      text += delta;
    }
  }
  if (text !== expected) throw new Error("direct answer differs");
  return { first, total: performance.now() - t0 };
}

/** One prompt through the gateway; checks the chunks. */
function viaGateway(socket, id) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first;
    const chunks = [];
    const timer = setTimeout(() => reject(new Error(`${id}: no answer in 60 s`)), 60_000);
    const onChunk = (c) => {
      if (c.requestId !== id) return;
      if (first === undefined) first = performance.now() - t0;
      chunks.push(c);
    };
    const onResponse = (r) => {
      if (r.requestId !== id) return;
      clearTimeout(timer);
      socket.off("prompt-chunk", onChunk);
      socket.off("prompt-response", onResponse);
      const inOrder = chunks.every((c, i) => c.index === i);
      const joined = chunks.map((c) => c.delta).join("");
      resolve({ first, total: performance.now() - t0, events: chunks.length, intact: inOrder && joined === expected && r.response === expected });
    };
    socket.on("prompt-chunk", onChunk);
    socket.on("prompt-response", onResponse);
    socket.emit("send-prompt", { prompt, requestId: id, stream: true });
  });
}

try {
  const sockets = await Promise.all(Array.from({ length: USERS }, (_, u) =>
    connect(gw.url, withToken("header", gw.token(`bench-stream-${u}`), { transports: ["websocket"] }))));
  await direct();
  await viaGateway(sockets[0], "warmup");
  const d = { first: [], total: [] };
  const g = { first: [], total: [], events: [], broken: 0 };
  for (let round = 0; round < PROMPTS; round++) {
    const [directs, gateways] = await Promise.all([
      Promise.all(sockets.map(() => direct())),
      Promise.all(sockets.map((s, u) => viaGateway(s, `r${round}-u${u}`))),
    ]);
    for (const r of directs) { d.first.push(r.first); d.total.push(r.total); }
    for (const r of gateways) {
      g.first.push(r.first); g.total.push(r.total); g.events.push(r.events);
      if (!r.intact) g.broken++;
    }
  }
  sockets.forEach((s) => s.close());
  console.log(`streamed prompts: ${USERS} users x ${PROMPTS} prompts of ${CHUNKS} chunks, ${DELAY} ms apart; direct and gateway run at the same time`);
  console.log(`first chunk, direct:   ${fmt(d.first)}`);
  console.log(`first chunk, gateway:  ${fmt(g.first)}  (+${(pct(g.first, 50) - pct(d.first, 50)).toFixed(1)} ms at p50)`);
  console.log(`whole stream, direct:  ${fmt(d.total)}`);
  console.log(`whole stream, gateway: ${fmt(g.total)}  (+${(pct(g.total, 50) - pct(d.total, 50)).toFixed(1)} ms at p50)`);
  console.log(`prompt-chunk events per prompt after coalescing: p50 ${pct(g.events, 50)}, min ${Math.min(...g.events)}, max ${Math.max(...g.events)} (of ${CHUNKS} deltas)`);
  console.log(`prompts with a lost, duplicated or reordered chunk: ${g.broken} of ${g.events.length}`);
} finally {
  await gw.stop();
  await up.close();
}
