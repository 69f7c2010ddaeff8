// The foundation over the WebSocket transport, with the stock client against `wrangler dev`.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { signToken } from "../support/jwt.mjs";
import { Wire } from "../support/wire.mjs";
import { PLACEMENTS, withToken, connect, next, ask, sleep } from "../support/client.mjs";

const WS = { transports: ["websocket"] };
let gw;

before(async () => { gw = await startGateway(); });
after(async () => { await gw?.stop(); });

describe("token placements over websocket", () => {
  for (const placement of PLACEMENTS) {
    test(`${placement} token connects and gets a prompt-response`, async () => {
      const user = `ws-${placement}`;
      const s = await connect(gw.url, withToken(placement, gw.token(user), WS));
      try {
        assert.equal(s.io.engine.transport.name, "websocket");
        const r = await ask(s, `hello from ${placement}`);
        assert.equal(r.prompt, `hello from ${placement}`);
        assert.equal(r.response, `Echo: hello from ${placement}`);
        assert.equal(typeof r.requestId, "string");
        assert.ok(r.requestId.length > 0);
      } finally { s.close(); }
    });
  }

  test("an ack callback on send-prompt is answered with the request id", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("ack-user"), WS));
    try {
      const response = next(s, "prompt-response");
      const ack = await s.timeout(5000).emitWithAck("send-prompt", { prompt: "acked", requestId: "req-42" });
      assert.deepEqual(ack, { status: "accepted", requestId: "req-42" });
      assert.equal((await response).requestId, "req-42");
    } finally { s.close(); }
  });
});

const now = () => Math.floor(Date.now() / 1000);

describe("bad tokens get connect_error with a code", () => {
  const cases = [
    ["missing", () => undefined, "TOKEN_MISSING"],
    ["wrong secret", () => signToken("not-the-secret", { sub: "u", exp: now() + 60 }), "TOKEN_INVALID"],
    ["expired", () => gw.token("u", -3600), "TOKEN_EXPIRED"],
    ["alg none", () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "u", exp: now() + 60 })).toString("base64url")}.`, "TOKEN_INVALID"],
    ["garbage", () => "not-a-jwt", "TOKEN_INVALID"],
    ["no sub", () => signToken("test-secret-for-e2e-only", { exp: now() + 60 }), "TOKEN_INVALID"],
    ["no exp", () => signToken("test-secret-for-e2e-only", { sub: "u" }), "TOKEN_INVALID"],
    ["nbf in the future", () => gw.token("u", 3600, { nbf: now() + 600 }), "TOKEN_INVALID"],
    ["sub of 257 characters", () => gw.token("s".repeat(257)), "TOKEN_INVALID"],
    ["exp 2 minutes past (default leeway 30 s)", () => gw.token("u", -120), "TOKEN_EXPIRED"],
  ];
  for (const placement of PLACEMENTS) {
    for (const [name, make, code] of cases) {
      if (name === "missing" && placement !== "auth") continue;
      test(`${name} (${placement}) -> ${code}`, async () => {
        await assert.rejects(connect(gw.url, withToken(placement, make(), WS)), (err) => {
          assert.equal(err.data?.code, code);
          assert.equal(typeof err.message, "string");
          return true;
        });
      });
    }
  }

  for (const placement of PLACEMENTS) {
    test(`accepted at the edges (${placement}): sub of 256 characters, exp and nbf within the leeway`, async () => {
      for (const [label, token] of [
        ["sub of 256 characters", gw.token(`${placement}-`.padEnd(256, "s"))],
        ["exp 10 s past", gw.token(`edge-exp-${placement}`, -10)],
        ["nbf 10 s ahead", gw.token(`edge-nbf-${placement}`, 3600, { nbf: now() + 10 })],
      ]) {
        const s = await connect(gw.url, withToken(placement, token, WS)).catch((e) => assert.fail(`${label}: ${e.message} ${e.data?.code}`));
        assert.equal((await ask(s, label)).response, `Echo: ${label}`);
        s.close();
      }
    });
  }

  test("tokens are never logged, accepted or refused, in any placement", async () => {
    // Fresh tokens, so that a match can only come from this test's connections.
    const sent = [];
    for (const placement of PLACEMENTS) {
      const token = gw.token(`logged-${placement}`, 600, { jti: `never-logged-${placement}` });
      sent.push(token);
      const s = await connect(gw.url, withToken(placement, token, WS));
      assert.equal((await ask(s, "log check")).response, "Echo: log check");
      s.close();
    }
    for (const placement of PLACEMENTS) {
      const refused = signToken("not-the-secret", { sub: "u", exp: now() + 60, jti: `refused-${placement}` });
      sent.push(refused);
      await assert.rejects(connect(gw.url, withToken(placement, refused, WS)), (err) => err.data?.code === "TOKEN_INVALID");
    }
    // Polling too: the handshake, the gate and the CONNECT packet carry it there.
    const polled = gw.token("logged-polling", 600, { jti: "never-logged-polling" });
    sent.push(polled);
    const p = await connect(gw.url, withToken("auth", polled, { transports: ["polling"] }));
    p.close();
    await sleep(300);
    const logs = gw.logs();
    assert.ok(gw.jsonLogs().some((l) => l.msg === "connected" && l.userId === "logged-auth"), "the connections were logged");
    assert.ok(gw.jsonLogs().some((l) => l.msg === "connection refused" && l.code === "TOKEN_INVALID"), "the refusals were logged");
    for (const token of sent) {
      for (const part of token.split(".")) assert.ok(!logs.includes(part), `a part of a token was logged: ${part}`);
    }
  });
});

describe("a second CONNECT on a refused WebSocket-only connection", () => {
  // The stock client closes its connection after a connect_error; other clients may retry on it.
  const wsUrl = () => `${gw.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
  for (const [name, first] of [["a refused auth-payload token", '40{"token":"not-a-jwt"}'], ["no token", "40"]]) {
    test(`after ${name}: RECONNECT_REQUIRED, and a new connection then works`, async () => {
      const user = `reconnect-required-${first.length}`;
      const w = new Wire(wsUrl(), { autoPong: true });
      try {
        assert.match(await w.nextText(5000), /^0\{"sid":/);
        w.send(first);
        const e1 = JSON.parse((await w.nextText(5000)).replace(/^44/, ""));
        assert.equal(e1.data.code, first === "40" ? "TOKEN_MISSING" : "TOKEN_INVALID");
        w.send(`40${JSON.stringify({ token: gw.token(user) })}`);
        const raw = await w.nextText(5000);
        assert.match(raw, /^44\{/);
        const e2 = JSON.parse(raw.slice(2));
        assert.equal(e2.data.code, "RECONNECT_REQUIRED");
        assert.equal(typeof e2.message, "string");
      } finally { w.close(); }
      const fresh = await connect(gw.url, withToken("auth", gw.token(user), WS));
      try { assert.equal((await ask(fresh, "reconnected")).response, "Echo: reconnected"); } finally { fresh.close(); }
    });
  }
});

describe("one connection per user", () => {
  test("a second connection replaces the first, which sees io server disconnect and does not reconnect", async () => {
    // Reconnection on, with a short delay: only the server's DISCONNECT keeps it from coming back.
    const first = await connect(gw.url, withToken("auth", gw.token("kick-user"), { ...WS, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 }));
    let attempts = 0;
    first.io.on("reconnect_attempt", () => { attempts++; });
    const replaced = next(first, "error");
    const gone = next(first, "disconnect");
    const second = await connect(gw.url, withToken("header", gw.token("kick-user"), WS));
    let secondLost = null;
    second.on("disconnect", (reason) => { secondLost = reason; });
    try {
      const err = await replaced;
      assert.equal(err.code, "SESSION_REPLACED");
      assert.equal(typeof err.message, "string");
      assert.equal(await gone, "io server disconnect");
      await sleep(1500);
      assert.equal(attempts, 0, "the replaced client tried to reconnect");
      assert.equal(first.connected, false, "the replaced client does not reconnect");
      assert.equal(secondLost, null, "the newer connection was not replaced back");
      assert.equal((await ask(second, "still here")).response, "Echo: still here");
    } finally { first.close(); second.close(); }
  });

  test("control: a client with reconnection on does come back after a transport loss", async () => {
    // Shows that the client above would have reconnected had the server not sent DISCONNECT.
    const s = await connect(gw.url, withToken("auth", gw.token("comeback-user"), { ...WS, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 }));
    try {
      const firstId = s.id;
      const back = next(s, "connect", 10_000);
      s.io.engine.close();
      await back;
      assert.ok(s.connected);
      assert.notEqual(s.id, firstId, "a new Socket.IO connection");
    } finally { s.close(); }
  });

  test("five racing connects leave exactly one live connection, the last accepted", async () => {
    const token = gw.token("race-user");
    const order = [];
    const sockets = await Promise.all(Array.from({ length: 5 }, (_, i) => connect(gw.url, withToken(i % 2 ? "auth" : "query", token, WS)).then((s) => { order.push(s); return s; })));
    try {
      await sleep(2000);
      const live = sockets.filter((s) => s.connected);
      assert.equal(live.length, 1, "exactly one survivor");
      assert.equal(live[0], order[order.length - 1], "the survivor was accepted last");
      assert.equal((await ask(live[0], "survivor")).response, "Echo: survivor");
    } finally { sockets.forEach((s) => s.close()); }
  });
});

describe("prompts", () => {
  test("an invalid prompt gets INVALID_PROMPT and the connection stays usable", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("invalid-prompt"), WS));
    try {
      for (const bad of [{ prompt: 42 }, {}, "just a string", { prompt: "" }]) {
        const err = next(s, "error");
        s.emit("send-prompt", bad);
        const e = await err;
        assert.equal(e.code, "INVALID_PROMPT", JSON.stringify(bad));
        assert.equal(typeof e.message, "string");
      }
      assert.ok(s.connected);
      assert.equal((await ask(s, "valid")).response, "Echo: valid");
    } finally { s.close(); }
  });

  test("an invalid prompt with an ack callback is acked { status: rejected, error }", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("rejected-ack"), WS));
    try {
      for (const bad of [{ prompt: "" }, { prompt: 7 }, { prompt: "x", requestId: 5 }]) {
        const event = next(s, "error");
        const ack = await s.timeout(5000).emitWithAck("send-prompt", bad);
        assert.equal(ack.status, "rejected", JSON.stringify(ack));
        assert.deepEqual(Object.keys(ack).sort(), ["error", "status"]);
        assert.equal(ack.error.code, "INVALID_PROMPT");
        assert.equal(typeof ack.error.message, "string");
        assert.equal((await event).code, "INVALID_PROMPT", "the error event is sent as well");
      }
      assert.equal((await ask(s, "after rejections")).response, "Echo: after rejections");
    } finally { s.close(); }
  });

  test("requestId is the client's from 1 to 128 characters, absent means the gateway's, anything else is refused", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("request-ids"), WS));
    try {
      const sendWith = async (requestId) => {
        const response = next(s, "prompt-response");
        const ack = await s.timeout(5000).emitWithAck("send-prompt", { prompt: "id check", requestId });
        const r = await response;
        assert.equal(ack.status, "accepted");
        assert.equal(ack.requestId, r.requestId, "the ack and the response carry the same id");
        return r.requestId;
      };
      for (const kept of ["a", "x".repeat(128), "\u00e9".repeat(128), "\u{1F600}".repeat(128)]) {
        assert.equal(await sendWith(kept), kept, `kept: ${kept.length} UTF-16 units`);
      }
      const generated = new Set();
      for (let i = 0; i < 2; i++) {
        const id = await sendWith(undefined);
        assert.equal(typeof id, "string");
        assert.ok(id.length >= 1 && id.length <= 128, id);
        generated.add(id);
      }
      assert.equal(generated.size, 2, "each generated id is new");
      for (const refused of ["", "x".repeat(129), "\u00e9".repeat(129)]) {
        const ack = await s.timeout(5000).emitWithAck("send-prompt", { prompt: "id check", requestId: refused });
        assert.equal(ack.status, "rejected", `${refused.length} characters`);
        assert.equal(ack.error.code, "INVALID_PROMPT");
      }
    } finally { s.close(); }
  });

  test("a send-prompt with binary attachments is reassembled and answered", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("binary-prompt"), WS));
    try {
      const r = await ask(s, "with a file", 10_000, { file: Buffer.from([0, 1, 2, 255]), more: [Buffer.alloc(3)] });
      assert.equal(r.response, "Echo: with a file");
      assert.ok(s.connected);
    } finally { s.close(); }
  });

  test("every accepted prompt gets exactly one response; a refused one none", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("many-prompts"), WS));
    try {
      const seen = new Map();
      s.on("prompt-response", (r) => seen.set(r.requestId, (seen.get(r.requestId) ?? 0) + 1));
      const acks = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        s.timeout(10_000).emitWithAck("send-prompt", { prompt: `p${i}`, requestId: `r${i}` })));
      const accepted = acks.filter((a) => a.status === "accepted").map((a) => a.requestId);
      const refused = acks.filter((a) => a.status === "rejected");
      assert.equal(accepted.length + refused.length, 50);
      assert.ok(accepted.length >= 4, `${accepted.length} accepted`);
      for (const r of refused) assert.match(r.error.code, /^(RATE_LIMITED|TOO_MANY_PROMPTS)$/);
      const deadline = Date.now() + 10_000;
      while (seen.size < accepted.length && Date.now() < deadline) await sleep(50);
      await sleep(300);
      assert.deepEqual([...seen.keys()].sort(), accepted.sort());
      assert.ok([...seen.values()].every((n) => n === 1));
    } finally { s.close(); }
  });
});
