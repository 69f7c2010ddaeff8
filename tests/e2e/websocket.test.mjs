// The foundation over the WebSocket transport, with the stock client against `wrangler dev`.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { signToken } from "../support/jwt.mjs";
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

describe("bad tokens get connect_error with a code", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases = [
    ["missing", () => undefined, "TOKEN_MISSING"],
    ["wrong secret", () => signToken("not-the-secret", { sub: "u", exp: now() + 60 }), "TOKEN_INVALID"],
    ["expired", () => gw.token("u", -3600), "TOKEN_EXPIRED"],
    ["alg none", () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "u", exp: now() + 60 })).toString("base64url")}.`, "TOKEN_INVALID"],
    ["garbage", () => "not-a-jwt", "TOKEN_INVALID"],
    ["no sub", () => signToken("test-secret-for-e2e-only", { exp: now() + 60 }), "TOKEN_INVALID"],
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

  test("tokens are never logged", () => {
    const token = gw.token("u");
    assert.ok(!gw.logs().includes(token.split(".")[2]));
  });
});

describe("one connection per user", () => {
  test("a second connection replaces the first, which sees io server disconnect", async () => {
    const first = await connect(gw.url, withToken("auth", gw.token("kick-user"), WS));
    const replaced = next(first, "error");
    const gone = next(first, "disconnect");
    const second = await connect(gw.url, withToken("header", gw.token("kick-user"), WS));
    try {
      const err = await replaced;
      assert.equal(err.code, "SESSION_REPLACED");
      assert.equal(typeof err.message, "string");
      assert.equal(await gone, "io server disconnect");
      await sleep(1500);
      assert.equal(first.connected, false, "the replaced client does not reconnect");
      assert.equal((await ask(second, "still here")).response, "Echo: still here");
    } finally { first.close(); second.close(); }
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

  test("every accepted prompt gets exactly one response", async () => {
    const s = await connect(gw.url, withToken("auth", gw.token("many-prompts"), WS));
    try {
      const seen = new Map();
      s.on("prompt-response", (r) => seen.set(r.requestId, (seen.get(r.requestId) ?? 0) + 1));
      for (let i = 0; i < 50; i++) s.emit("send-prompt", { prompt: `p${i}`, requestId: `r${i}` });
      const deadline = Date.now() + 10_000;
      while (seen.size < 50 && Date.now() < deadline) await sleep(50);
      await sleep(300);
      assert.equal(seen.size, 50);
      assert.ok([...seen.values()].every((n) => n === 1));
    } finally { s.close(); }
  });
});
