// Origin checks and CORS headers: DOMAIN_URL lists the allowed origins for polling and WebSocket
// requests; requests without an Origin (non-browser clients) pass; without DOMAIN_URL every
// origin is allowed.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startGateway } from "../support/gateway.mjs";

const ALLOWED = "http://allowed.example";
const REFUSED = [
  "http://evil.example",
  "https://allowed.example",
  "http://allowed.example:8080",
  "http://allowed.example.evil.example",
  "http://sub.allowed.example",
];
const FORBIDDEN = { code: 4, message: "Forbidden" };

let gw;
let open;
let users = 0;
/** A fresh user each time: one connection per user, so tests never replace each other's. */
const token = (g) => g.token(`origin-user-${++users}`);

before(async () => {
  gw = await startGateway({ vars: { DOMAIN_URL: `${ALLOWED},null` } });
  open = await startGateway();
});
after(async () => {
  await gw?.stop();
  await open?.stop();
});

async function http(url, { method = "GET", origin, headers = {}, body } = {}) {
  const h = { ...headers };
  if (origin !== undefined) h.Origin = origin;
  const res = await fetch(url, { method, headers: h, body, signal: AbortSignal.timeout(5000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const handshakeUrl = (g, tok = token(g)) => `${g.url}/socket.io/?EIO=4&transport=polling&token=${tok}`;
const sidUrl = (g, sid) => `${g.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;

function assertForbidden(r) {
  assert.equal(r.status, 403, r.body);
  assert.equal(r.headers.get("content-type")?.split(";")[0].trim(), "application/json");
  assert.deepEqual(JSON.parse(r.body), FORBIDDEN);
  assert.equal(r.headers.get("access-control-allow-origin"), null, "a refused origin is never echoed");
}

function assertCors(r, origin) {
  assert.equal(r.headers.get("access-control-allow-origin"), origin);
  assert.equal(r.headers.get("access-control-allow-credentials"), "true");
  const vary = (r.headers.get("vary") ?? "").split(",").map((v) => v.trim().toLowerCase());
  assert.ok(vary.includes("origin"), `Vary must name Origin, got ${r.headers.get("vary")}`);
}

function assertNoCors(r) {
  assert.equal(r.headers.get("access-control-allow-origin"), null);
  assert.equal(r.headers.get("access-control-allow-credentials"), null);
}

function assertOpenPacket(r) {
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body[0], "0", r.body);
  const packet = JSON.parse(r.body.slice(1));
  assert.equal(typeof packet.sid, "string");
  return packet.sid;
}

/**
 * Opens a WebSocket; resolves with `{ open: firstFrame }` or `{ status, body, contentType }`.
 * With `probe` (an upgrade of a polling session) it sends `2probe` once open.
 */
function tryWebSocket(url, origin, { probe = false } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { headers: { Origin: origin } });
    const t = setTimeout(() => { ws.terminate(); reject(new Error("no answer to the WebSocket handshake")); }, 5000);
    ws.on("error", () => {});
    if (probe) ws.once("open", () => ws.send("2probe"));
    ws.once("message", (data) => { clearTimeout(t); ws.terminate(); resolve({ open: data.toString() }); });
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => {
        clearTimeout(t);
        resolve({ status: res.statusCode, body, contentType: res.headers["content-type"], allowOrigin: res.headers["access-control-allow-origin"] });
      });
    });
  });
}

const wsUrl = (g, query) => `${g.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket${query}`;

describe("DOMAIN_URL set: polling handshake", () => {
  for (const origin of [ALLOWED, "null"]) {
    test(`allowed origin ${origin}: 200 with CORS headers for it`, async () => {
      const r = await http(handshakeUrl(gw), { origin });
      assertOpenPacket(r);
      assertCors(r, origin);
    });
  }

  for (const origin of REFUSED) {
    test(`refused origin ${origin}: 403 Forbidden`, async () => {
      assertForbidden(await http(handshakeUrl(gw), { origin }));
    });
  }

  test("no Origin header: allowed, without CORS headers", async () => {
    const r = await http(handshakeUrl(gw));
    assertOpenPacket(r);
    assertNoCors(r);
  });

  test("the origin is checked before the token: a refused origin without a token is 403", async () => {
    assertForbidden(await http(`${gw.url}/socket.io/?EIO=4&transport=polling`, { origin: "http://evil.example" }));
  });

  test("an error answer to an allowed origin still carries its CORS headers", async () => {
    const r = await http(`${gw.url}/socket.io/?EIO=4&transport=abc`, { origin: ALLOWED });
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 0, message: "Transport unknown" });
    assertCors(r, ALLOWED);
  });
});

describe("DOMAIN_URL set: requests on an existing sid", () => {
  test("allowed, refused and absent Origin on GET and POST", async () => {
    const sid = assertOpenPacket(await http(handshakeUrl(gw), { origin: ALLOWED }));

    const posted = await http(sidUrl(gw, sid), { method: "POST", body: "40", origin: ALLOWED });
    assert.equal(posted.status, 200);
    assert.equal(posted.body, "ok");
    assertCors(posted, ALLOWED);

    const polled = await http(sidUrl(gw, sid), { origin: ALLOWED });
    assert.equal(polled.status, 200);
    assert.match(polled.body.split("\x1e")[0], /^40\{"sid":"[^"]+"\}$/);
    assertCors(polled, ALLOWED);

    assertForbidden(await http(sidUrl(gw, sid), { origin: "http://evil.example" }));
    assertForbidden(await http(sidUrl(gw, sid), { method: "POST", body: "3", origin: "http://evil.example" }));
    assertForbidden(await http(sidUrl(gw, sid), { method: "POST", body: "3", origin: "https://allowed.example" }));

    // The refusals did not touch the session.
    const pong = await http(sidUrl(gw, sid), { method: "POST", body: "3" });
    assert.equal(pong.status, 200);
    assert.equal(pong.body, "ok");
    assertNoCors(pong);
    const closing = await http(sidUrl(gw, sid), { method: "POST", body: "1", origin: "null" });
    assert.equal(closing.status, 200);
    assertCors(closing, "null");
  });

  test("a refused origin cannot upgrade an existing polling session", async () => {
    const sid = assertOpenPacket(await http(handshakeUrl(gw)));
    const r = await tryWebSocket(wsUrl(gw, `&sid=${encodeURIComponent(sid)}`), "http://evil.example");
    assert.equal(r.status, 403, `expected a 403 refusal, got ${JSON.stringify(r)}`);
    assert.deepEqual(JSON.parse(r.body), FORBIDDEN);
    const ok = await tryWebSocket(wsUrl(gw, `&sid=${encodeURIComponent(sid)}`), ALLOWED, { probe: true });
    assert.equal(ok.open, "3probe", `an allowed origin upgrades, got ${JSON.stringify(ok)}`);
  });
});

describe("DOMAIN_URL set: WebSocket handshake", () => {
  // With the token in the query (checked at HTTP level) and without one (sent later in CONNECT).
  for (const [name, query] of [["token in query", () => `&token=${token(gw)}`], ["no token yet", () => ""]]) {
    for (const origin of [ALLOWED, "null", undefined]) {
      test(`${name}: origin ${origin ?? "absent"} is allowed`, async () => {
        const r = await tryWebSocket(wsUrl(gw, query()), origin);
        assert.ok(r.open, `expected an open packet, got ${JSON.stringify(r)}`);
        assert.equal(r.open[0], "0");
        assert.deepEqual(JSON.parse(r.open.slice(1)).upgrades, []);
      });
    }
    for (const origin of REFUSED.slice(0, 3)) {
      test(`${name}: origin ${origin} is refused with 403`, async () => {
        const r = await tryWebSocket(wsUrl(gw, query()), origin);
        assert.equal(r.status, 403, `expected a 403 refusal, got ${JSON.stringify(r)}`);
        assert.equal(r.contentType?.split(";")[0].trim(), "application/json");
        assert.deepEqual(JSON.parse(r.body), FORBIDDEN);
        assert.equal(r.allowOrigin, undefined);
      });
    }
  }
});

describe("DOMAIN_URL set: preflight", () => {
  const preflight = (origin) => http(`${gw.url}/socket.io/?EIO=4&transport=polling`, {
    method: "OPTIONS",
    origin,
    headers: { "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" },
  });

  for (const origin of [ALLOWED, "null"]) {
    test(`OPTIONS from ${origin}: 204 allowing the authorization and content-type headers`, async () => {
      const r = await preflight(origin);
      assert.equal(r.status, 204);
      assert.equal(r.body, "");
      assertCors(r, origin);
      const allowed = (r.headers.get("access-control-allow-headers") ?? "").split(",").map((h) => h.trim().toLowerCase());
      assert.ok(allowed.includes("authorization"), `Access-Control-Allow-Headers: ${allowed}`);
      assert.ok(allowed.includes("content-type"), `Access-Control-Allow-Headers: ${allowed}`);
      const methods = (r.headers.get("access-control-allow-methods") ?? "").split(",").map((m) => m.trim().toUpperCase());
      assert.ok(methods.includes("GET") && methods.includes("POST"), `Access-Control-Allow-Methods: ${methods}`);
    });
  }

  test("OPTIONS from a refused origin: 403", async () => {
    assertForbidden(await preflight("http://evil.example"));
  });

  test("OPTIONS without an Origin: 204 without an allowed origin", async () => {
    const r = await preflight(undefined);
    assert.equal(r.status, 204);
    assertNoCors(r);
  });
});

describe("DOMAIN_URL unset: every origin is allowed", () => {
  for (const origin of ["http://anything.example", "https://other.example:8443", "null"]) {
    test(`polling handshake from ${origin}`, async () => {
      const r = await http(handshakeUrl(open), { origin });
      assertOpenPacket(r);
      assertCors(r, origin);
    });

    test(`WebSocket handshake from ${origin}`, async () => {
      const r = await tryWebSocket(wsUrl(open, `&token=${token(open)}`), origin);
      assert.ok(r.open, `expected an open packet, got ${JSON.stringify(r)}`);
      assert.equal(r.open[0], "0");
    });
  }

  test("preflight from any origin", async () => {
    const r = await http(`${open.url}/socket.io/?EIO=4&transport=polling`, {
      method: "OPTIONS",
      origin: "http://anything.example",
      headers: { "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
    });
    assert.equal(r.status, 204);
    assertCors(r, "http://anything.example");
  });

  test("no Origin header: allowed", async () => {
    const r = await http(handshakeUrl(open));
    assertOpenPacket(r);
    assertNoCors(r);
  });
});
