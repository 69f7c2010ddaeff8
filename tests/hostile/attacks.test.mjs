// Attacks a client can make with no token (and a few with one), each bounded in size and time,
// run while a well-behaved user keeps exchanging prompts. Each asserts that the attacker is
// refused or closed quickly, the bystander is served throughout, workerd's memory stays bounded
// and the attack costs only a handful of log lines.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import WebSocket from "ws";
import { startGateway } from "../support/gateway.mjs";
import { connect, withToken, sleep } from "../support/client.mjs";
import { http } from "../support/wire.mjs";

let gw;
let bystander;

/** Resident memory of the gateway's workerd processes, in MB. */
function workerdRssMb() {
  const out = execFileSync("ps", ["-eo", "pgid=,rss=,comm="], { encoding: "utf8" });
  let kb = 0;
  for (const line of out.split("\n")) {
    const [pgid, rss, ...comm] = line.trim().split(/\s+/);
    if (Number(pgid) === gw.pid && comm.join(" ").includes("workerd")) kb += Number(rss);
  }
  return kb / 1024;
}

/** Keeps the bystander asking prompts until stopped; resolves with [asked, answered, rtts]. */
function keepAsking() {
  let running = true;
  const rtts = [];
  let asked = 0;
  const done = (async () => {
    while (running) {
      asked++;
      const t0 = performance.now();
      const r = await new Promise((resolve) => {
        const t = setTimeout(() => resolve(null), 5000);
        bystander.emit("send-prompt", { prompt: `bystander ${asked}` }, () => {});
        bystander.once("prompt-response", (p) => { clearTimeout(t); resolve(p); });
      });
      if (r) rtts.push(performance.now() - t0);
      await sleep(20);
    }
    return [asked, rtts.length, rtts];
  })();
  return { stop: async () => { running = false; return done; } };
}

/** Runs one attack beside the bystander and checks what every attack must respect. */
async function underAttack(name, attack, { maxLogLines = 5, ignore = null } = {}) {
  const logsBefore = gw.jsonLogs().length;
  const rssBefore = workerdRssMb();
  const asking = keepAsking();
  const t0 = performance.now();
  const detail = await attack();
  const refusedAfterMs = performance.now() - t0;
  await sleep(300);
  const [asked, answered, rtts] = await asking.stop();
  const rssGrowth = workerdRssMb() - rssBefore;
  // The once-per-isolate configuration warnings may land in any window; they are not the attack's.
  const startup = /is unset|is shorter than|mirror is off/;
  const attackLines = gw.jsonLogs().slice(logsBefore)
    .filter((l) => !/bystander/.test(l.userId ?? "") && !startup.test(l.msg) && !(ignore && ignore.test(l.msg)));
  rtts.sort((a, b) => a - b);
  console.log(`# ${name}: refused in ${refusedAfterMs.toFixed(0)} ms, workerd +${rssGrowth.toFixed(1)} MB, ` +
    `${attackLines.length} log lines, bystander ${answered}/${asked} answered, p50 ${rtts[rtts.length >> 1]?.toFixed(1)} ms`);
  assert.equal(answered, asked, "every bystander prompt was answered");
  assert.ok(rssGrowth < 150, `workerd grew by ${rssGrowth.toFixed(1)} MB`);
  assert.ok(attackLines.length <= maxLogLines, `${attackLines.length} log lines: ${JSON.stringify(attackLines.slice(0, 8))}`);
  return detail;
}

const base = () => `${gw.url}/socket.io/?EIO=4`;

async function pollingHandshake(headers = {}) {
  const r = await http(`${base()}&transport=polling`, { headers });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body.slice(1)).sid;
}

const rawSockets = [];

/** A raw WebSocket; resolves once open with its received frames and close code. */
function rawSocket(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    rawSockets.push(ws);
    const s = { ws, frames: [], closed: null };
    ws.on("message", (d, bin) => s.frames.push(bin ? Buffer.from(d) : d.toString()));
    ws.on("close", (code) => { s.closed = code; });
    ws.on("open", () => resolve(s));
    ws.on("error", reject);
  });
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(25);
  }
  assert.fail(`${what} within ${ms} ms`);
}

before(async () => {
  // The prompt limits are per user, so they would only slow the bystander (who asks every
  // 20 ms) and spare the never-reading attacker: both are off here, the worst case for the
  // queue bound. Every other limit keeps its default.
  gw = await startGateway({ vars: { PROMPT_RATE_PER_MINUTE: "0", MAX_PROMPTS_IN_FLIGHT: "0" } });
  bystander = await connect(gw.url, withToken("header", gw.token("bystander"), { transports: ["websocket"] }));
});

after(async () => {
  for (const ws of rawSockets) ws.terminate();
  bystander?.close();
  await gw?.stop();
});

describe("hostile clients", () => {
  test("a flood of refused CONNECTs over polling: three answers, then the session closes", async () => {
    await underAttack("CONNECT flood (polling)", async () => {
      const sid = await pollingHandshake();
      const post = await http(`${base()}&transport=polling&sid=${sid}`, { method: "POST", body: Array(999).fill("40").join("\x1e") });
      assert.equal(post.status, 200);
      const got = await http(`${base()}&transport=polling&sid=${sid}`);
      assert.equal(got.body.split("\x1e").filter((p) => p.startsWith("44")).length, 3, got.body.slice(0, 200));
      const closing = await http(`${base()}&transport=polling&sid=${sid}`);
      assert.equal(closing.body, "1");
      // A payload over 1000 packets is refused whole.
      const sid2 = await pollingHandshake();
      await http(`${base()}&transport=polling&sid=${sid2}`, { method: "POST", body: Array(1001).fill("40").join("\x1e") });
      const gone = await http(`${base()}&transport=polling&sid=${sid2}`);
      assert.ok(gone.status === 400 || gone.body === "1", `${gone.status} ${gone.body}`);
    });
  });

  test("a flood of CONNECTs over a relayed WebSocket: RECONNECT_REQUIRED, then closed", async () => {
    await underAttack("CONNECT flood (relayed WebSocket)", async () => {
      const s = await rawSocket(`${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
      await until(() => s.frames.length >= 1, 5000, "open packet");
      for (let i = 0; i < 1000 && s.closed === null; i++) s.ws.send("40");
      await until(() => s.closed !== null, 15_000, "closed");
      const refusals = s.frames.filter((f) => typeof f === "string" && f.startsWith("44"));
      assert.ok(refusals.length <= 3, `${refusals.length} refusals`);
      assert.match(refusals[1] ?? "", /RECONNECT_REQUIRED/);
    });
  });

  test("binary attachments: too many, too large, or before CONNECT close the connection", async () => {
    await underAttack("attachment floods", async () => {
      const wsUrl = `${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`;
      const auth = { Authorization: `Bearer ${gw.token("mallory")}` };
      // before CONNECT
      const a = await rawSocket(wsUrl, auth);
      a.ws.send('451-["x",{"_placeholder":true,"num":0}]');
      await until(() => a.closed !== null, 12_000, "closed before CONNECT");
      // eleven attachments
      const b = await rawSocket(wsUrl, auth);
      b.ws.send("40");
      await until(() => b.frames.some((f) => String(f).startsWith("40")), 5000, "connected");
      b.ws.send('4511-["x"]');
      await until(() => b.closed !== null, 12_000, "closed after 11 attachments");
      // ten attachments of 200 KB: 2 MB over a 1 MB maxPayload
      const c = await rawSocket(wsUrl, auth);
      c.ws.send("40");
      await until(() => c.frames.some((f) => String(f).startsWith("40")), 5000, "connected");
      const holders = Array.from({ length: 10 }, (_, i) => ({ _placeholder: true, num: i }));
      c.ws.send(`4510-${JSON.stringify(["x", ...holders])}`);
      for (let i = 0; i < 10 && c.closed === null; i++) c.ws.send(Buffer.alloc(200_000));
      await until(() => c.closed !== null, 12_000, "closed past maxPayload of attachments");
    }, { maxLogLines: 10 });
  });

  test("a chunked body without a length stops at maxPayload: 413, and the session ends", async () => {
    await underAttack("chunked 8 MB body", async () => {
      const sid = await pollingHandshake({ Authorization: `Bearer ${gw.token("mallory")}` });
      const url = `${base()}&transport=polling&sid=${sid}`;
      const chunk = new Uint8Array(64 * 1024).fill(0x34);
      let sent = 0;
      const body = new ReadableStream({
        pull(ctrl) {
          if (sent >= 8 * 1024 * 1024) return ctrl.close();
          sent += chunk.length;
          ctrl.enqueue(chunk);
        },
      });
      const r = await fetch(url, { method: "POST", body, duplex: "half", signal: AbortSignal.timeout(20_000) })
        .then((res) => res.status, (e) => `connection closed (${e.cause?.code ?? e.message})`);
      // The gateway answers 413 as soon as the body passes maxPayload. A client still uploading
      // may see its connection closed instead, which wrangler's local proxy reports as 503.
      assert.ok(r === 413 || r === 503 || String(r).startsWith("connection closed"), `got ${r}`);
      // Either way the session is over, as for any body over maxPayload.
      const after = await http(url, { headers: { Connection: "close" } });
      assert.equal(after.status, 400, `${after.status} ${after.body}`);
    });
  });

  test("a polling client that never reads is closed once its queue passes maxPayload", async () => {
    await underAttack("never-reading session", async () => {
      const sid = await pollingHandshake({ Authorization: `Bearer ${gw.token("mallory")}` });
      const url = `${base()}&transport=polling&sid=${sid}`;
      await http(url, { method: "POST", body: "40" });
      const prompt = JSON.stringify(["send-prompt", { prompt: "x".repeat(30_000) }]);
      let status = 200;
      for (let i = 0; i < 60 && status === 200; i++) {
        const r = await http(url, { method: "POST", body: `42${prompt}` });
        status = r.status;
        if (r.status === 200) {
          const probe = await http(url, { method: "POST", body: "3" });
          status = probe.status;
        }
      }
      assert.equal(status, 400, "the session ended");
    });
  });

  test("a flat JSON array of zeros is refused within the payload budget", async () => {
    await underAttack("huge flat JSON array", async () => {
      const s = await rawSocket(`${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`,
        { Authorization: `Bearer ${gw.token("mallory")}` });
      s.ws.send("40");
      await until(() => s.frames.some((f) => String(f).startsWith("40")), 5000, "connected");
      s.ws.send(`42["send-prompt",[${"0,".repeat(450_000)}0]]`);
      await until(() => s.closed !== null, 12_000, "closed");
    });
  });

  test("1000 tokenless handshakes in a burst: most get 429 with Retry-After", async () => {
    const statuses = await underAttack("handshake flood", async () => {
      const out = [];
      const started = Date.now();
      for (let batch = 0; batch < 50 && Date.now() - started < 10_000; batch++) {
        const rs = await Promise.all(Array.from({ length: 20 }, () =>
          fetch(`${base()}&transport=polling`, { signal: AbortSignal.timeout(10_000) })
            .then(async (r) => ({ status: r.status, retry: r.headers.get("retry-after"), body: await r.text() }))));
        out.push(...rs);
      }
      return out;
    });
    const refused = statuses.filter((r) => r.status === 429);
    assert.ok(statuses.filter((r) => r.status === 200).length <= 200, "at most two windows' worth got through");
    assert.ok(refused.length >= statuses.length - 200, `${refused.length} of ${statuses.length} refused`);
    assert.equal(JSON.parse(refused[0].body).code, "RATE_LIMITED");
    assert.ok(Number(refused[0].retry) >= 1 && Number(refused[0].retry) <= 10);
  });

  test("a user opening 50 sessions keeps at most 8; the oldest idle ones go", async () => {
    await underAttack("50 sessions of one user", async () => {
      const headers = { Authorization: `Bearer ${gw.token("mallory")}` };
      const sids = [];
      for (let i = 0; i < 50; i++) sids.push(await pollingHandshake(headers));
      const first = await http(`${base()}&transport=polling&sid=${sids[0]}`);
      assert.equal(first.status, 400, "the oldest session is gone");
      const last = await http(`${base()}&transport=polling&sid=${sids[49]}`, { method: "POST", body: "40" });
      assert.equal(last.status, 200, "the newest one works");
    });
  });
});
