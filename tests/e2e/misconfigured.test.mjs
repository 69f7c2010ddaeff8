// Without JWT_SECRET every connection is refused with SERVER_MISCONFIGURED, on every route.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { tokenFor } from "../support/jwt.mjs";
import { PLACEMENTS, withToken, connect } from "../support/client.mjs";

let gw;
before(async () => { gw = await startGateway({ vars: { JWT_SECRET: null } }); });
after(async () => { await gw?.stop(); });

for (const placement of PLACEMENTS) {
  for (const transports of [["websocket"], ["polling"]]) {
    test(`${placement} over ${transports[0]} -> SERVER_MISCONFIGURED`, async () => {
      const token = tokenFor("whatever", "u");
      await assert.rejects(connect(gw.url, withToken(placement, token, { transports })), (err) => {
        assert.equal(err.data?.code, "SERVER_MISCONFIGURED");
        return true;
      });
    });
  }
}

test("the unset secret is logged as an error", async () => {
  await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`);
  const deadline = Date.now() + 3000;
  const line = () => gw.jsonLogs().find((l) => /^JWT_SECRET is unset/.test(l.msg));
  while (!line() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(line()?.level, 50, "an error line names JWT_SECRET");
  assert.match(line().msg, /SERVER_MISCONFIGURED/);
});

test("a bad numeric setting is refused with a message naming the variable", async () => {
  const bad = await startGateway({ vars: { PING_INTERVAL_MS: "soon" } });
  try {
    const r = await fetch(`${bad.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 500);
    const body = await r.json();
    assert.equal(body.code, "SERVER_MISCONFIGURED");
    assert.match(body.message, /PING_INTERVAL_MS/);
    const deadline = Date.now() + 3000;
    const logged = () => bad.jsonLogs().some((l) => l.level === 50 && l.var === "PING_INTERVAL_MS");
    while (!logged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(logged(), "the error is logged with the variable's name");
  } finally { await bad.stop(); }
});

test("a redis:// REDIS_URL is refused with a log line naming it, and connections still work", async () => {
  const gw2 = await startGateway({ vars: { REDIS_URL: "redis://127.0.0.1:6379" } });
  try {
    const s = await connect(gw2.url, withToken("auth", gw2.token("redis-url-user"), { transports: ["websocket"] }));
    s.close();
    const deadline = Date.now() + 3000;
    const refused = () => gw2.jsonLogs().find((l) => l.level === 50 && l.var === "REDIS_URL");
    while (!refused() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(refused(), "the refusal is logged");
    assert.match(refused().msg, /redis:\/\/ URL cannot be used/);
  } finally { await gw2.stop(); }
});
