// Self-check of the fake prompt upstream (tests/support/fake-upstream.mjs), with fetch.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startFakeUpstream, directives } from "../support/fake-upstream.mjs";

let up;
before(async () => {
  up = await startFakeUpstream({ delayMs: 1 });
});
after(() => up.close());

function chat(prompt, extra = {}) {
  return fetch(`${up.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...extra.headers },
    body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: prompt }] }),
    signal: extra.signal,
  });
}

function backend(prompt, data = {}) {
  return fetch(`${up.url}/backend`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId: "u", requestId: "r", prompt, data }),
  });
}

/** The `data:` payloads of an event stream. */
function events(text) {
  return text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6));
}

test("directives are read from the start of the prompt", () => {
  assert.deepEqual(directives("!slow !chunks:3 hi there"), { flags: { slow: true, chunks: "3" }, text: "hi there" });
  assert.deepEqual(directives("hi !500"), { flags: {}, text: "hi !500" });
});

test("openai streams word deltas and [DONE], and records the request", async () => {
  const res = await chat("hello big world", { headers: { Authorization: "Bearer t" } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const data = events(await res.text());
  assert.equal(data.at(-1), "[DONE]");
  const text = data
    .slice(0, -1)
    .map((d) => JSON.parse(d).choices[0].delta.content ?? "")
    .join("");
  assert.equal(text, "Upstream: hello big world");
  const seen = up.requests.at(-1);
  assert.equal(seen.path, "/v1/chat/completions");
  assert.equal(seen.headers.authorization, "Bearer t");
  assert.equal(seen.body.messages[0].content, "hello big world");
});

test("chunks:N gives N deltas; no-done ends without [DONE]", async () => {
  const data = events(await (await chat("!chunks:100 x")).text());
  assert.equal(data.length, 100 + 3); // role chunk, 100 deltas, stop chunk, [DONE] = 103
  const noDone = events(await (await chat("!no-done hi")).text());
  assert.notEqual(noDone.at(-1), "[DONE]");
});

test("429 carries Retry-After and 500 an error body", async () => {
  const busy = await chat("!429 hi");
  assert.equal(busy.status, 429);
  assert.equal(busy.headers.get("retry-after"), "2");
  await busy.text();
  const failed = await chat("!500 hi");
  assert.equal(failed.status, 500);
  assert.match(await failed.text(), /secret-upstream-body/);
});

test("malformed and error-mid-stream streams", async () => {
  const bad = events(await (await chat("!malformed hi")).text());
  assert.equal(bad.at(-1), "{not json");
  const err = events(await (await chat("!error-mid-stream hi")).text());
  assert.equal(JSON.parse(err.at(-1)).error.message, "model overloaded");
});

test("an aborted request is recorded as aborted", async () => {
  const controller = new AbortController();
  const res = await chat("!slow !chunks:50 x", { signal: controller.signal });
  const reader = res.body.getReader();
  await reader.read();
  controller.abort();
  await up.waitFor(() => up.aborted.some((a) => a.body?.messages?.[0]?.content === "!slow !chunks:50 x"));
  // A hang sends nothing: the client gives up, the fake sees it.
  const hang = new AbortController();
  const pending = chat("!hang", { signal: hang.signal }).catch((e) => e.name);
  await up.waitFor(() => up.requests.some((r) => r.body?.messages?.[0]?.content === "!hang"));
  hang.abort();
  assert.equal(await pending, "AbortError");
  await up.waitFor(() => up.aborted.some((a) => a.body?.messages?.[0]?.content === "!hang"));
});

test("backend answers as an event stream or as JSON", async () => {
  const sse = await backend("hi you");
  assert.match(sse.headers.get("content-type"), /^text\/event-stream/);
  const data = events(await sse.text());
  assert.deepEqual(data.slice(0, -1).map((d) => JSON.parse(d).delta), ["Upstream: ", "hi ", "you"]);
  assert.equal(data.at(-1), "[DONE]");
  const json = await backend("hi you", { fakeMode: "json" });
  assert.deepEqual(await json.json(), { response: "Upstream: hi you" });
  const forced = await backend("!json hi");
  assert.deepEqual(await forced.json(), { response: "Upstream: hi" });
  assert.deepEqual(up.requests.at(-1).body, { userId: "u", requestId: "r", prompt: "!json hi", data: {} });
  const err = events(await (await backend("!error-mid-stream hi")).text());
  assert.deepEqual(JSON.parse(err.at(-1)), { error: { message: "model overloaded", type: "server_error" } });
});

test("a configured token is required", async () => {
  const guarded = await startFakeUpstream({ token: "sekret", delayMs: 1 });
  try {
    const res = await fetch(`${guarded.url}/backend`, { method: "POST", body: "{}" });
    assert.equal(res.status, 401);
    await res.text();
    const ok = await fetch(`${guarded.url}/backend`, {
      method: "POST",
      headers: { Authorization: "Bearer sekret" },
      body: JSON.stringify({ prompt: "!json a" }),
    });
    assert.deepEqual(await ok.json(), { response: "Upstream: a" });
  } finally {
    await guarded.close();
  }
});

test("messages counts what came; stall sends one delta and then nothing", async () => {
  const res = await fetch(`${up.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({
      model: "m",
      messages: [
        { role: "user", content: "a" },
        { role: "assistant", content: "b" },
        { role: "user", content: "!messages" },
      ],
    }),
  });
  const data = events(await res.text());
  assert.equal(JSON.parse(data[1]).choices[0].delta.content, "messages: 3");

  const controller = new AbortController();
  const stalled = await chat("!stall one two", { signal: controller.signal });
  const reader = stalled.body.getReader();
  let seen = "";
  while (!seen.includes('"Upstream: "')) seen += new TextDecoder().decode((await reader.read()).value);
  const more = await Promise.race([reader.read().then(() => "more"), new Promise((r) => setTimeout(r, 150, "quiet"))]);
  assert.equal(more, "quiet");
  controller.abort();
  await up.waitFor(() => up.aborted.some((a) => a.body?.messages?.[0]?.content === "!stall one two"));
});
