// The push API (CONTRACT.md section 5) with the stock client: events pushed to one user, a list
// and a room on every transport; presence; rooms from the token, through replacement; and the
// API's refusals (bearer, disabled, reserved names, targets, sizes).
import { test, before, after, describe } from "node:test";
import { request as httpRequest } from "node:http";
import assert from "node:assert/strict";
import { startGateway } from "../support/gateway.mjs";
import { withToken, connect, next, sleep } from "../support/client.mjs";
import { PUSH_TOKEN, api, emit, presence, roomMembers, collect } from "../support/push.mjs";

let gw;
before(async () => { gw = await startGateway({ vars: { PUSH_API_TOKEN: PUSH_TOKEN } }); });
after(async () => { if (process.env.PUSH_LOGS) (await import("node:fs")).writeFileSync(process.env.PUSH_LOGS, gw.logs()); await gw?.stop(); });

/** Waits for the first `event` and then a little longer, so a duplicate would be seen. */
async function receivedOnce(got, ms = 5000) {
  const end = Date.now() + ms;
  while (got.length === 0 && Date.now() < end) await sleep(10);
  await sleep(300);
  return got;
}

/** A POST whose body is `count` chunks without Content-Length: `{ status, body }` or `{ error }`. */
function chunkedPost(url, chunk, count, token = PUSH_TOKEN) {
  return new Promise((resolve) => {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const req = httpRequest(url, { method: "POST", headers, agent: false });
    let sent = 0;
    let done = false;
    const finish = (v) => { if (!done) { done = true; clearTimeout(timer); req.destroy(); resolve(v); } };
    const timer = setTimeout(() => finish({ error: new Error("no answer in 30 s") }), 30_000);
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => finish({ status: res.statusCode, body }));
      res.on("error", () => finish({ status: res.statusCode, body }));
    });
    req.on("error", (error) => finish({ error }));
    const pump = () => {
      while (!done && sent < count) {
        sent++;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
      if (!done) req.end();
    };
    pump();
  });
}

const DATA = { job: "export-42", done: true, n: 3.5, list: [1, "two", null], nested: { é: "ü" } };

describe("delivery to one user", () => {
  const cases = {
    "WebSocket, header token (direct)": ["header", { transports: ["websocket"] }],
    "WebSocket, auth payload (relayed)": ["auth", { transports: ["websocket"] }],
    "polling, header token": ["header", { transports: ["polling"] }],
    "polling, auth payload (handed over from a gate)": ["auth", { transports: ["polling"] }],
    "default transports, upgraded": ["query", {}],
  };
  for (const [name, [placement, opts]] of Object.entries(cases)) {
    test(`${name}: received once with the exact data`, async () => {
      const user = `push-one-${name.replace(/\W+/g, "-")}`;
      const s = await connect(gw.url, withToken(placement, gw.token(user), opts));
      try {
        if (!opts.transports && s.io.engine.transport.name !== "websocket") await next(s.io.engine, "upgrade", 5000);
        const got = collect(s, "job-finished");
        const r = await emit(gw.url, { userId: user, event: "job-finished", data: DATA });
        assert.deepEqual(r, { delivered: 1, offline: 0 });
        assert.deepEqual(await receivedOnce(got), [[DATA]]);
        // Without data the event has no argument.
        const bare = collect(s, "nudge");
        await emit(gw.url, { userId: user, event: "nudge" });
        assert.deepEqual(await receivedOnce(bare), [[]]);
      } finally { s.close(); }
    });
  }

  test("a user with no connection is offline", async () => {
    assert.deepEqual(await emit(gw.url, { userId: "push-nobody", event: "e", data: 1 }), { delivered: 0, offline: 1 });
  });

  test("a list mixing connected and offline users, duplicates counted once", async () => {
    const a = await connect(gw.url, withToken("header", gw.token("push-list-a"), { transports: ["websocket"] }));
    const b = await connect(gw.url, withToken("auth", gw.token("push-list-b"), { transports: ["polling"] }));
    try {
      const ga = collect(a, "batch");
      const gb = collect(b, "batch");
      const r = await emit(gw.url, {
        userIds: ["push-list-a", "push-list-off-1", "push-list-b", "push-list-a", "push-list-off-2"],
        event: "batch",
        data: { k: 1 },
      });
      assert.deepEqual(r, { delivered: 2, offline: 2 });
      assert.deepEqual(await receivedOnce(ga), [[{ k: 1 }]]);
      assert.deepEqual(await receivedOnce(gb), [[{ k: 1 }]]);
    } finally { a.close(); b.close(); }
  });
});

describe("presence", () => {
  test("before, during, after a connection, and after a replacement", async () => {
    const user = "push-presence";
    assert.deepEqual(await presence(gw.url, user), { connected: false });
    const before = Date.now();
    const s1 = await connect(gw.url, withToken("header", gw.token(user), { transports: ["websocket"] }));
    const p1 = await presence(gw.url, user);
    assert.equal(p1.connected, true);
    assert.equal(p1.socketId, s1.id);
    assert.equal(p1.transport, "websocket");
    assert.ok(p1.connectedAt >= before - 1000 && p1.connectedAt <= Date.now() + 1000, `${p1.connectedAt}`);
    const s2 = await connect(gw.url, withToken("auth", gw.token(user), { transports: ["polling"] }));
    try {
      const p2 = await presence(gw.url, user);
      assert.equal(p2.socketId, s2.id);
      assert.notEqual(p2.socketId, s1.id);
      assert.equal(p2.transport, "polling");
      assert.ok(p2.connectedAt >= p1.connectedAt);
    } finally { s1.close(); s2.close(); }
    const end = Date.now() + 5000;
    let p3;
    do { p3 = await presence(gw.url, user); } while (p3.connected && Date.now() < end && (await sleep(50), true));
    assert.deepEqual(p3, { connected: false });
  });

  test("user ids in the path are decoded and checked", async () => {
    const user = "push presence/ü?";
    const s = await connect(gw.url, withToken("auth", gw.token(user), { transports: ["websocket"] }));
    try {
      assert.equal((await presence(gw.url, user)).socketId, s.id);
    } finally { s.close(); }
    const long = await api(gw.url, `users/${"u".repeat(257)}`);
    assert.equal(long.status, 400);
    assert.equal(long.json.code, "INVALID_REQUEST");
  });
});

describe("rooms", () => {
  const tok = (user, rooms) => gw.token(user, 3600, { rooms });

  test("an emit to a room reaches every connected member once and nobody else, through replacements", async () => {
    const room = "push-team-1";
    const a = await connect(gw.url, withToken("header", tok("push-room-a", [room, "x"]), { transports: ["websocket"] }));
    const b = await connect(gw.url, withToken("auth", tok("push-room-b", [room]), { transports: ["websocket"] }));
    const c = await connect(gw.url, withToken("auth", tok("push-room-c", ["y", room]), { transports: ["polling"] }));
    const outsider = await connect(gw.url, withToken("header", tok("push-room-out", ["y"]), { transports: ["websocket"] }));
    const sockets = [a, b, c, outsider];
    try {
      await roomMembers(gw.url, room, 3);
      const got = sockets.map((s) => collect(s, "team-news"));
      assert.deepEqual(await emit(gw.url, { room, event: "team-news", data: { v: 1 } }), { delivered: 3, offline: 0 });
      for (const g of got.slice(0, 3)) assert.deepEqual(await receivedOnce(g), [[{ v: 1 }]]);
      assert.deepEqual(got[3], []);

      // a is replaced by a connection whose token names other rooms; b by one that keeps the room.
      const a2 = await connect(gw.url, withToken("auth", tok("push-room-a", ["other"]), { transports: ["websocket"] }));
      const b2 = await connect(gw.url, withToken("header", tok("push-room-b", [room]), { transports: ["polling"] }));
      sockets.push(a2, b2);
      await roomMembers(gw.url, room, 2);
      const got2 = sockets.map((s) => collect(s, "team-news-2"));
      assert.deepEqual(await emit(gw.url, { room, event: "team-news-2", data: "again" }), { delivered: 2, offline: 0 });
      const [, , gc, gout, ga2, gb2] = got2;
      assert.deepEqual(await receivedOnce(gc), [["again"]]);
      assert.deepEqual(await receivedOnce(gb2), [["again"]]);
      assert.deepEqual([got2[0], got2[1], gout, ga2], [[], [], [], []]);
      // The replacing connection's own rooms work.
      const gOther = collect(a2, "other-news");
      assert.deepEqual(await emit(gw.url, { room: "other", event: "other-news", data: 1 }), { delivered: 1, offline: 0 });
      assert.deepEqual(await receivedOnce(gOther), [[1]]);
    } finally { for (const s of sockets) s.close(); }
    // Members leave when they disconnect.
    await roomMembers(gw.url, room, 0);
    assert.deepEqual(await emit(gw.url, { room, event: "team-news", data: 1 }), { delivered: 0, offline: 0 });
  });

  test("a client cannot name its rooms in the internal header", async () => {
    const forged = { "x-gw-rooms": Buffer.from(JSON.stringify(["push-victim-room"])).toString("base64url") };
    const sockets = [];
    try {
      for (const transports of [["websocket"], ["polling"]]) {
        sockets.push(await connect(gw.url, withToken("header", gw.token(`push-forger-${transports[0]}`), {
          transports, extraHeaders: { ...forged, Authorization: `Bearer ${gw.token(`push-forger-${transports[0]}`)}` },
        })));
      }
      const got = sockets.map((s) => collect(s, "secret"));
      await sleep(300);
      assert.deepEqual(await emit(gw.url, { room: "push-victim-room", event: "secret", data: 1 }), { delivered: 0, offline: 0 });
      await sleep(200);
      assert.deepEqual(got, [[], []]);
    } finally { for (const s of sockets) s.close(); }
  });

  test("a room nobody joined reaches nobody", async () => {
    assert.deepEqual(await emit(gw.url, { room: "push-empty-room", event: "e" }), { delivered: 0, offline: 0 });
  });

  test("a token with a malformed rooms claim is TOKEN_INVALID, wherever it is sent", async () => {
    const bad = [{ rooms: "team" }, { rooms: [1] }, { rooms: [""] }, { rooms: ["r".repeat(129)] },
      { rooms: Array.from({ length: 51 }, (_, i) => `r${i}`) }];
    for (const extra of bad) {
      for (const [placement, opts] of [["header", { transports: ["websocket"] }], ["auth", { transports: ["websocket"] }], ["auth", { transports: ["polling"] }]]) {
        const err = await connect(gw.url, withToken(placement, gw.token("push-bad-rooms", 3600, extra), opts))
          .then((s) => { s.close(); return null; }, (e) => e);
        assert.ok(err, `${JSON.stringify(extra).slice(0, 40)} via ${placement} must be refused`);
        assert.equal(err.data?.code, "TOKEN_INVALID");
      }
    }
    // 50 rooms of 128 characters are fine, in the auth payload and in the header (where the
    // Worker passes them on to the user's object).
    for (const placement of ["auth", "header"]) {
      const user = `push-max-rooms-${placement}`;
      const max = Array.from({ length: 50 }, (_, i) => `${placement}-${i}-`.padEnd(128, "é"));
      const s = await connect(gw.url, withToken(placement, gw.token(user, 3600, { rooms: max }), { transports: ["websocket"] }));
      try {
        await roomMembers(gw.url, max[49], 1);
        const got = collect(s, "max");
        assert.deepEqual(await emit(gw.url, { room: max[49], event: "max", data: placement }), { delivered: 1, offline: 0 });
        assert.deepEqual(await receivedOnce(got), [[placement]]);
      } finally { s.close(); }
    }
  });
});

describe("refusals", () => {
  test("a wrong or missing bearer gets 401 JSON", async () => {
    for (const token of [null, "wrong", `${PUSH_TOKEN}x`, PUSH_TOKEN.slice(0, -1)]) {
      for (const [path, method] of [["emit", "POST"], ["users/u", "GET"], ["rooms/r", "GET"]]) {
        const r = await api(gw.url, path, { method, token, body: method === "POST" ? { userId: "u", event: "e" } : undefined });
        assert.equal(r.status, 401, `${path} with ${token}`);
        assert.equal(r.json.code, "UNAUTHORIZED");
        assert.equal(typeof r.json.message, "string");
      }
    }
    const basic = await fetch(`${gw.url}/api/v1/users/u`, { headers: { Authorization: `Basic ${PUSH_TOKEN}` } });
    assert.equal(basic.status, 401);
    // Without the bearer the body is never read: 8 MB without a length is refused at once.
    const t0 = performance.now();
    const r = await chunkedPost(`${gw.url}/api/v1/emit`, "x".repeat(65_536), 128, null);
    assert.ok(r.status === 401 || r.status === 503 || r.error, `got ${r.status} ${r.body}`);
    if (r.status === 401 && r.body) assert.equal(JSON.parse(r.body).code, "UNAUTHORIZED");
    assert.ok(performance.now() - t0 < 10_000);
  });

  test("reserved event names get 400", async () => {
    for (const event of ["connect", "disconnect", "connect_error", "disconnecting", "newListener", "removeListener",
      "session", "prompt-chunk", "prompt-response", "error"]) {
      const r = await api(gw.url, "emit", { method: "POST", body: { userId: "u", event, data: 1 } });
      assert.equal(r.status, 400, event);
      assert.equal(r.json.code, "RESERVED_EVENT");
    }
  });

  test("no target, two kinds of targets and bad bodies get 400", async () => {
    const bodies = [
      { event: "e" },
      { userId: "a", room: "r", event: "e" },
      { userId: "a", userIds: ["b"], event: "e" },
      { userIds: ["a"], room: "r", event: "e" },
      { userIds: [], event: "e" },
      { userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`), event: "e" },
      { userId: "", event: "e" },
      { room: "r".repeat(129), event: "e" },
      { userId: "a" },
      { userId: "a", event: "" },
      { userId: "a", event: "e".repeat(129) },
    ];
    for (const body of bodies) {
      const r = await api(gw.url, "emit", { method: "POST", body });
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(r.json.code, "INVALID_REQUEST");
    }
    for (const raw of ["not json", "[1]", "", "{\"userId\":"]) {
      const r = await api(gw.url, "emit", { method: "POST", raw });
      assert.equal(r.status, 400, raw);
      assert.equal(r.json.code, "INVALID_REQUEST");
    }
  });

  test("a body over 1 MB gets 413, with a length or chunked without one", async () => {
    const big = JSON.stringify({ userId: "u", event: "e", data: "x".repeat(1_100_000) });
    const r = await api(gw.url, "emit", { method: "POST", raw: big });
    assert.equal(r.status, 413);
    assert.equal(r.json.code, "PAYLOAD_TOO_LARGE");
    // 8 MB in 64 KB chunks, without Content-Length, on a connection of its own.
    const r2 = await chunkedPost(`${gw.url}/api/v1/emit`, "x".repeat(65_536), 128);
    // The gateway answers 413 as soon as the body passes the limit. A client still uploading may
    // see its connection closed instead, which wrangler's local proxy reports as 503.
    assert.ok(r2.status === 413 || r2.status === 503 || r2.error, `got ${r2.status} ${r2.body}`);
    if (r2.status === 413 && r2.body) assert.equal(JSON.parse(r2.body).code, "PAYLOAD_TOO_LARGE");
    // Just under the limit is read.
    const fits = JSON.stringify({ userId: "push-nobody", event: "e", data: "x".repeat(1_000_000) });
    assert.deepEqual((await api(gw.url, "emit", { method: "POST", raw: fits })).json, { delivered: 0, offline: 1 });
  });

  test("unknown API paths and methods", async () => {
    assert.equal((await api(gw.url, "nope")).status, 404);
    assert.equal((await api(gw.url, "emit")).status, 405);
    assert.equal((await api(gw.url, "users/u", { method: "POST", body: {} })).status, 405);
  });

  test("with PUSH_API_TOKEN unset the API is 404", async () => {
    const off = await startGateway();
    try {
      for (const token of [PUSH_TOKEN, null, ""]) {
        assert.equal((await api(off.url, "emit", { method: "POST", token, body: { userId: "u", event: "e" } })).status, 404);
        assert.equal((await api(off.url, "users/u", { token })).status, 404);
      }
    } finally { await off.stop(); }
  });
});
