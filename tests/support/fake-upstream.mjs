// A fake prompt upstream for tests and local development, on Node's standard library only.
//
// Two endpoints on 127.0.0.1:
//   POST /v1/chat/completions  OpenAI-compatible Chat Completions, streamed as server-sent events
//                              (`data: {"choices":[{"delta":{"content":"..."}}]}` ... `data: [DONE]`)
//   POST /backend              the app's own backend: `{ userId, requestId, prompt, data }` in;
//                              `text/event-stream` of `{ "delta" }` ... `[DONE]` (mode "sse") or
//                              `application/json` `{ "response" }` (mode "json") out
// The answer is `Upstream: <prompt>` in word-sized deltas. Words at the start of the prompt that
// begin with `!` choose a behaviour (several may be combined, e.g. `!slow !chunks:20 hi`):
//   !slow            200 ms between events (else `delayMs`, default 20 ms)
//   !delay:N         N ms between events
//   !chunks:N        answer with N deltas `w0 `, `w1 `, ...
//   !500             status 500 with a JSON error body (a gateway must not show it)
//   !429             status 429 with `Retry-After: 2`
//   !malformed       one delta, then an event that is not JSON
//   !error-mid-stream one delta, then `{"error":{"message":"model overloaded"}}`
//   !no-done         the deltas, then the end of the body without `[DONE]`
//   !hang            accept the request and send nothing, not even the head
//   !stall           send the head and one delta, then nothing
//   !json / !sse     (backend) reply as JSON / as an event stream, whatever the mode
//   !messages        answer `messages: N` (openai: how many messages came)
// The backend's mode is also taken from `data.fakeMode` ("json" or "sse") when present.
//
// Module:  const up = await startFakeUpstream({ port: 0, delayMs: 20, backendMode: "sse", token });
//          up.url, up.port, up.requests (every request: method, path, headers, body),
//          up.aborted (requests whose client closed the connection before the end),
//          await up.waitFor(() => up.aborted.length > 0), await up.close()
// CLI:     node tests/support/fake-upstream.mjs --port 8788 --delay-ms 200 [--backend-mode json]
//          [--token t]
import http from "node:http";
import { pathToFileURL } from "node:url";

const SLOW_MS = 200;

/** Parses the leading `!directives` of a prompt. */
export function directives(prompt) {
  const words = String(prompt ?? "").trimStart().split(/(\s+)/);
  const flags = {};
  let i = 0;
  for (; i < words.length; i += 2) {
    const w = words[i];
    if (!w.startsWith("!") || w.length < 2) break;
    const [name, arg] = w.slice(1).split(":");
    flags[name] = arg === undefined ? true : arg;
  }
  return { flags, text: words.slice(i).join("") };
}

function deltasFor(text, flags, messages) {
  if (flags.chunks !== undefined) {
    const n = Number(flags.chunks) || 0;
    return Array.from({ length: n }, (_, k) => `w${k} `);
  }
  if (flags.messages) return [`messages: ${messages}`];
  const answer = `Upstream: ${text}`;
  return answer.match(/\s*\S+\s*/g) ?? [answer];
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.closed) return resolve();
    const t = setTimeout(resolve, ms);
    signal.onClose(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

function openAiChunk(model, delta, finish = null) {
  return {
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

/** Writes one answer as an event stream; `frame(delta)` makes each event's JSON. */
async function stream(res, conn, flags, deltas, frame, delayMs) {
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  res.flushHeaders();
  const send = (data) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
  const first = frame.first?.();
  if (first) send(first);
  const failing = flags.malformed || flags["error-mid-stream"] || flags.stall;
  const list = failing ? deltas.slice(0, 1) : deltas;
  for (const d of list) {
    if (conn.closed) return;
    await sleep(delayMs, conn);
    if (conn.closed) return;
    send(frame(d));
  }
  if (flags.stall) return; // the client's idle timer must end it
  await sleep(delayMs, conn);
  if (conn.closed) return;
  if (flags.malformed) send("{not json");
  else if (flags["error-mid-stream"]) send({ error: { message: "model overloaded", type: "server_error" } });
  else if (!flags["no-done"]) {
    const last = frame.last?.();
    if (last) send(last);
    send("[DONE]");
  }
  res.end();
}

/** Answers one request after its body was read. */
async function answer(req, res, conn, body, options) {
  const delayMs = options.delayMs ?? 20;
  const backendMode = options.backendMode ?? "sse";
  const json = (status, obj, headers = {}) => {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(obj));
  };
  if (req.method !== "POST" || !["/v1/chat/completions", "/backend"].includes(req.url)) {
    return json(404, { error: { message: "not found" } });
  }
  if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
    return json(401, { error: { message: "bad token" } });
  }
  const openai = req.url === "/v1/chat/completions";
  const messages = openai && Array.isArray(body?.messages) ? body.messages : [];
  const prompt = openai ? messages.at(-1)?.content : body?.prompt;
  const { flags, text } = directives(prompt);
  const pause = flags.delay !== undefined ? Number(flags.delay) : flags.slow ? SLOW_MS : delayMs;
  if (flags.hang) return; // nothing at all until the client gives up
  if (flags["500"]) return json(500, { error: { message: "internal failure: secret-upstream-body" } });
  if (flags["429"]) return json(429, { error: { message: "slow down" } }, { "Retry-After": "2" });
  const deltas = deltasFor(text, flags, messages.length);
  if (openai) {
    const model = body?.model ?? "fake";
    const frame = (d) => openAiChunk(model, { content: d });
    frame.first = () => openAiChunk(model, { role: "assistant", content: "" });
    frame.last = () => openAiChunk(model, {}, "stop");
    return stream(res, conn, flags, deltas, frame, pause);
  }
  const mode = flags.json ? "json" : flags.sse ? "sse" : body?.data?.fakeMode ?? backendMode;
  if (mode === "json") {
    await sleep(pause, conn);
    if (conn.closed) return;
    return json(200, { response: deltas.join("") });
  }
  return stream(res, conn, flags, deltas, (d) => ({ delta: d }), pause);
}

/** Starts the fake upstream; resolves once it listens. */
export async function startFakeUpstream(options = {}) {
  const requests = [];
  const aborted = [];
  const open = new Set();

  const server = http.createServer(async (req, res) => {
    const conn = { closed: false, listeners: [], onClose(f) { this.listeners.push(f); } };
    const record = { method: req.method, path: req.url, headers: { ...req.headers }, body: undefined, at: Date.now() };
    open.add(res);
    res.on("close", () => {
      open.delete(res);
      conn.closed = true;
      conn.listeners.splice(0).forEach((f) => f());
      if (!res.writableFinished) aborted.push({ ...record, at: Date.now() });
    });
    const raw = await readBody(req).catch(() => "");
    let body = raw;
    try {
      body = JSON.parse(raw);
    } catch {}
    record.body = body;
    requests.push(record);
    try {
      await answer(req, res, conn, body, options);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(String(e?.message ?? e));
    }
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    aborted,
    /** Resolves when `predicate()` holds, polling every 10 ms; rejects after `timeoutMs`. */
    async waitFor(predicate, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > end) throw new Error("fake upstream: condition not met in time");
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close() {
      for (const res of open) res.destroy();
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--port") opts.port = Number(value);
    else if (flag === "--delay-ms") opts.delayMs = Number(value);
    else if (flag === "--backend-mode") opts.backendMode = value;
    else if (flag === "--token") opts.token = value;
    else throw new Error(`unknown argument ${flag} (use --port, --delay-ms, --backend-mode, --token)`);
    i += 1;
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const up = await startFakeUpstream({ port: 8788, ...parseArgs(process.argv.slice(2)) });
  console.log(`fake upstream on ${up.url}`);
  console.log(`  PROMPT_PROCESSOR=openai PROMPT_UPSTREAM_URL=${up.url}/v1 PROMPT_MODEL=fake`);
  console.log(`  PROMPT_PROCESSOR=http   PROMPT_UPSTREAM_URL=${up.url}/backend`);
  const stop = () => up.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
