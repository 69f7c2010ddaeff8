// The configuration the README documents: the accepted ranges of the numeric settings, the
// log lines promised for defaults, the client bundle served outside dev mode, and the JWT
// settings (issuer, audience, leeway) given as variables.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startGateway, ROOT, sidTag } from "../support/gateway.mjs";
import { http, startConformanceGateway } from "../support/wire.mjs";
import { PLACEMENTS, withToken, connect, ask } from "../support/client.mjs";

const now = () => Math.floor(Date.now() / 1000);
const handshake = (g) => http(`${g.url}/socket.io/?EIO=4&transport=polling`);

/** Waits (bounded) until `pick(jsonLogs)` is truthy; returns it. */
async function logged(g, pick, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = pick(g.jsonLogs());
    if (found || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("accepted ranges of PING_INTERVAL_MS, PING_TIMEOUT_MS and MAX_PAYLOAD_BYTES, and a LOG_LEVEL outside its values", () => {
  const edges = {
    lowest: { PING_INTERVAL_MS: "100", PING_TIMEOUT_MS: "100", MAX_PAYLOAD_BYTES: "1024" },
    highest: { PING_INTERVAL_MS: "3600000", PING_TIMEOUT_MS: "3600000", MAX_PAYLOAD_BYTES: "33554432" },
  };
  const outside = [
    ["PING_INTERVAL_MS", "99"], ["PING_INTERVAL_MS", "3600001"],
    ["PING_TIMEOUT_MS", "99"], ["PING_TIMEOUT_MS", "3600001"],
    ["MAX_PAYLOAD_BYTES", "1023"], ["MAX_PAYLOAD_BYTES", "33554433"],
    ["LOG_LEVEL", "verbose"],
  ];
  const gateways = {};
  before(async () => {
    // A few at a time: each is a wrangler process.
    const specs = [...Object.entries(edges), ...outside.map(([k, v]) => [`${k}=${v}`, { [k]: v }])];
    for (let i = 0; i < specs.length; i += 4) {
      await Promise.all(specs.slice(i, i + 4).map(async ([name, vars]) => { gateways[name] = await startGateway({ vars }); }));
    }
  });
  after(async () => { await Promise.all(Object.values(gateways).map((g) => g.stop())); });

  for (const [name, vars] of Object.entries(edges)) {
    test(`the ${name} values are accepted and announced in the open packet`, async () => {
      const r = await handshake(gateways[name]);
      assert.equal(r.status, 200, r.body);
      const open = JSON.parse(r.body.slice(1));
      assert.equal(open.pingInterval, Number(vars.PING_INTERVAL_MS));
      assert.equal(open.pingTimeout, Number(vars.PING_TIMEOUT_MS));
      assert.equal(open.maxPayload, Number(vars.MAX_PAYLOAD_BYTES));
      const s = await connect(gateways[name].url, withToken("auth", gateways[name].token(`range-${name}`), { transports: ["websocket"] }));
      try { assert.equal((await ask(s, "in range")).response, "Echo: in range"); } finally { s.close(); }
    });
  }

  for (const [k, v] of outside) {
    test(`${k}=${v} is refused: 500 SERVER_MISCONFIGURED naming it, and logged`, async () => {
      const g = gateways[`${k}=${v}`];
      const r = await handshake(g);
      assert.equal(r.status, 500);
      const body = JSON.parse(r.body);
      assert.equal(body.code, "SERVER_MISCONFIGURED");
      assert.match(body.message, new RegExp(`^${k}: `));
      assert.match(body.message, new RegExp(String(v)));
      assert.ok(await logged(g, (ls) => ls.find((l) => l.level === 50 && l.var === k)), `no error line naming ${k}`);
    });
  }
});

describe("log lines promised for defaults", () => {
  let plain;
  let restricted;
  before(async () => {
    [plain, restricted] = await Promise.all([startGateway(), startGateway({ vars: { DOMAIN_URL: "http://allowed.example" } })]);
  });
  after(async () => { await Promise.all([plain?.stop(), restricted?.stop()]); });

  test("DOMAIN_URL unset is warned; the mirror being off is logged once", async () => {
    for (let i = 0; i < 3; i++) {
      const s = await connect(plain.url, withToken("header", plain.token(`logs-${i}`), { transports: i % 2 ? ["polling"] : ["websocket"] }));
      await ask(s, "logged");
      s.close();
    }
    await handshake(plain);
    const domain = await logged(plain, (ls) => ls.find((l) => l.msg === "DOMAIN_URL is unset: every origin is allowed"));
    assert.equal(domain?.level, 40, "a warning");
    const mirror = plain.jsonLogs().filter((l) => /^Redis mirror is off/.test(l.msg));
    assert.equal(mirror.length, 1, `logged once: ${JSON.stringify(mirror)}`);
    assert.equal(mirror[0].level, 30);
    assert.ok(!plain.jsonLogs().some((l) => /JWT_SECRET is unset/.test(l.msg)), "no secret warning when it is set");
  });

  test("with DOMAIN_URL set there is no warning about it", async () => {
    const s = await connect(restricted.url, withToken("header", restricted.token("logs-restricted"), { transports: ["websocket"] }));
    s.close();
    assert.ok(await logged(restricted, (ls) => ls.find((l) => l.msg === "connected")), "the connection was logged");
    assert.ok(!restricted.jsonLogs().some((l) => /DOMAIN_URL/.test(l.msg)));
  });

  test("the socket.io-client bundle is served outside dev mode; the test page and dev tokens are not", async () => {
    const bundle = readFileSync(join(ROOT, "node_modules", "socket.io-client", "dist", "socket.io.min.js"), "utf8");
    for (const g of [plain, restricted]) {
      const r = await http(`${g.url}/socket.io/socket.io.min.js`, { headers: { Origin: "http://elsewhere.example" } });
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type"), /^text\/javascript/); // RFC 9239
      assert.equal(r.body, bundle);
      for (const path of ["/", "/test-websocket-auth.html", "/dev/token?sub=x"]) {
        const off = await http(`${g.url}${path}`);
        assert.equal(off.status, 404, `${path} outside dev mode answered ${off.status}`);
        assert.ok(!off.body.includes("eyJ"), "no token outside dev mode");
      }
    }
  });
});

describe("conformance mode logs a warning", () => {
  let conf;
  before(async () => { conf = await startConformanceGateway(); });
  after(async () => { await conf?.stop(); });

  test("once at start and for every connection", async () => {
    const sids = [];
    for (let i = 0; i < 3; i++) sids.push(JSON.parse((await handshake(conf)).body.slice(1)).sid);
    const start = await logged(conf, (ls) => ls.find((l) => /^SOCKETIO_CONFORMANCE=1: authentication is off/.test(l.msg)));
    assert.equal(start?.level, 40);
    for (const sid of sids) {
      const line = await logged(conf, (ls) => ls.find((l) => l.sid === sidTag(sid) && /SOCKETIO_CONFORMANCE is on/.test(l.msg)));
      assert.equal(line?.level, 40, `no warning for ${sid}`);
      assert.ok(!conf.logs().includes(sid), "the sid itself is never logged");
    }
  });
});

describe("JWT_ISSUER, JWT_AUDIENCE and JWT_LEEWAY_SECONDS as variables", () => {
  let gw;
  before(async () => {
    gw = await startGateway({ vars: { JWT_ISSUER: "https://issuer.example", JWT_AUDIENCE: "gateway-app", JWT_LEEWAY_SECONDS: "300" } });
  });
  after(async () => { await gw?.stop(); });

  const good = { iss: "https://issuer.example", aud: "gateway-app" };
  const cases = [
    ["the right iss and aud", good, null],
    ["aud as a list containing it", { ...good, aud: ["other", "gateway-app"] }, null],
    ["a wrong iss", { ...good, iss: "https://other.example" }, "TOKEN_INVALID"],
    ["no iss", { aud: "gateway-app" }, "TOKEN_INVALID"],
    ["a wrong aud", { ...good, aud: "other" }, "TOKEN_INVALID"],
    ["no aud", { iss: "https://issuer.example" }, "TOKEN_INVALID"],
    ["exp 2 minutes past (within 300 s)", { ...good, exp: () => now() - 120 }, null],
    ["exp 10 minutes past", { ...good, exp: () => now() - 600 }, "TOKEN_EXPIRED"],
    ["nbf 2 minutes ahead (within 300 s)", { ...good, nbf: () => now() + 120 }, null],
    ["nbf 10 minutes ahead", { ...good, nbf: () => now() + 600 }, "TOKEN_INVALID"],
  ];
  for (const placement of PLACEMENTS) {
    for (const [name, claims, code] of cases) {
      test(`${placement}: ${name} -> ${code ?? "connected"}`, async () => {
        const resolved = Object.fromEntries(Object.entries(claims).map(([k, v]) => [k, typeof v === "function" ? v() : v]));
        const token = gw.token(`jwt-vars-${placement}`, 3600, resolved);
        const attempt = connect(gw.url, withToken(placement, token, { transports: ["websocket"] }));
        if (code === null) {
          const s = await attempt;
          try { assert.equal((await ask(s, name)).response, `Echo: ${name}`); } finally { s.close(); }
        } else {
          await assert.rejects(attempt, (err) => { assert.equal(err.data?.code, code); return true; });
        }
      });
    }
  }
});
