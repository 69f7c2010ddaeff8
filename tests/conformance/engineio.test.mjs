// Engine.IO v4 on the wire: the open packet, HTTP errors, heartbeat, close, polling payloads,
// binary data, the polling rules and the upgrade to WebSocket. Raw HTTP and raw WebSocket only;
// `/engine.io/` is the conformance echo endpoint, `/socket.io/` the gateway's own path.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "../support/client.mjs";
import { http, Wire, startConformanceGateway, PING_INTERVAL, PING_TIMEOUT } from "../support/wire.mjs";

const MAX_PAYLOAD = 1_000_000;
/** Extra time allowed for a timer-driven close (the WebSocket pong check runs from an alarm). */
const SLACK = 1000;
const SEP = "\x1e";
const PATHS = ["/socket.io/", "/engine.io/"];

let gw;

before(async () => {
  gw = await startConformanceGateway();
});
after(async () => { await gw?.stop(); });

// ----- HTTP -----

function endpoint(path, query) {
  return `${gw.url}${path}?${query}`;
}

/** One HTTP exchange with a deadline; the body is read as text. */

const pollUrl = (path, sid) => endpoint(path, `EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
const get = (path, sid, opts = {}) => http(pollUrl(path, sid), opts);
const post = (path, sid, body, opts = {}) => http(pollUrl(path, sid), { ...opts, method: "POST", body });

const uncaughtCount = () => (gw.logs().match(/Uncaught/g) ?? []).length;

/** Opens a polling session; returns the sid and the decoded open packet. */
async function handshake(path) {
  const r = await http(endpoint(path, "EIO=4&transport=polling"));
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body[0], "0", `open packet expected, got ${JSON.stringify(r.body)}`);
  const open = JSON.parse(r.body.slice(1));
  return { sid: open.sid, open, response: r };
}

/** Asserts a JSON error answer. */
function assertError(r, status, code, message) {
  assert.equal(r.status, status, `status for ${r.body}`);
  assert.equal(r.headers.get("content-type")?.split(";")[0].trim(), "application/json");
  assert.deepEqual(JSON.parse(r.body), { code, message });
}

function assertOpenPacket(open, upgrades) {
  assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
  assert.equal(typeof open.sid, "string");
  assert.ok(open.sid.length > 0, "sid is not empty");
  assert.deepEqual(open.upgrades, upgrades);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, MAX_PAYLOAD);
}

/** The packets of a polling body without server pings; each ping found is answered. */
async function packetsWithoutPings(path, sid, body) {
  const packets = body.split(SEP);
  const pings = packets.filter((p) => p === "2").length;
  for (let i = 0; i < pings; i++) assert.equal((await post(path, sid, "3")).body, "ok");
  return packets.filter((p) => p !== "2");
}

// ----- WebSocket -----

const wsUrl = (path, query) => endpoint(path, query).replace(/^http/, "ws");

/** A WebSocket-only session; returns the wire and its open packet. */
async function openWire(path, opts = {}) {
  const w = new Wire(wsUrl(path, "EIO=4&transport=websocket"), opts);
  await w.opened();
  const first = await w.nextText();
  assert.equal(first[0], "0", `open packet expected, got ${JSON.stringify(first)}`);
  return { wire: w, open: JSON.parse(first.slice(1)) };
}

/** Upgrades the polling session `sid` to a WebSocket; returns the wire once `5` is sent. */
async function upgrade(path, sid) {
  const pending = get(path, sid);
  const w = new Wire(wsUrl(path, `EIO=4&transport=websocket&sid=${encodeURIComponent(sid)}`), { autoPong: true });
  await w.opened();
  w.send("2probe");
  assert.equal(await w.nextText(), "3probe");
  let r = await pending;
  assert.equal(r.status, 200, r.body);
  if (r.body === "2") {
    // The heartbeat answered the poll before the probe arrived; the next poll gets the noop.
    assert.equal((await post(path, sid, "3")).body, "ok");
    r = await get(path, sid);
    assert.equal(r.status, 200, r.body);
  }
  assert.equal(r.body, "6", "the poll held during the upgrade is ended with a noop packet");
  w.send("5");
  return w;
}

// ----- tests -----

describe("handshake", () => {
  for (const path of PATHS) {
    test(`polling open packet on ${path}`, async () => {
      const { open, response } = await handshake(path);
      assertOpenPacket(open, ["websocket"]);
      assert.equal(response.headers.get("content-type"), "text/plain; charset=UTF-8");
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.equal(response.body, `0${JSON.stringify(open)}`, "the body is exactly one open packet");
    });

    test(`websocket open packet on ${path}`, async () => {
      const { wire, open } = await openWire(path);
      try {
        assertOpenPacket(open, []);
      } finally { wire.close(); }
    });
  }

  test("every handshake gets its own sid", async () => {
    const sids = new Set();
    for (let i = 0; i < 4; i++) sids.add((await handshake("/socket.io/")).sid);
    const { wire, open } = await openWire("/socket.io/");
    wire.close();
    sids.add(open.sid);
    assert.equal(sids.size, 5);
  });
});

describe("HTTP errors", () => {
  for (const path of PATHS) {
    const cases = [
      ["EIO missing", "GET", "transport=polling", 5, "Unsupported protocol version"],
      ["EIO=3", "GET", "EIO=3&transport=polling", 5, "Unsupported protocol version"],
      ["EIO=abc", "GET", "EIO=abc&transport=polling", 5, "Unsupported protocol version"],
      ["transport missing", "GET", "EIO=4", 0, "Transport unknown"],
      ["transport=abc", "GET", "EIO=4&transport=abc", 0, "Transport unknown"],
      ["unknown sid (GET)", "GET", "EIO=4&transport=polling&sid=abc", 1, "Session ID unknown"],
      ["unknown sid (POST)", "POST", "EIO=4&transport=polling&sid=abc", 1, "Session ID unknown"],
      ["POST handshake", "POST", "EIO=4&transport=polling", 2, "Bad handshake method"],
      ["PUT handshake", "PUT", "EIO=4&transport=polling", 2, "Bad handshake method"],
      ["transport=websocket without an Upgrade", "GET", "EIO=4&transport=websocket", 3, "Bad request"],
    ];
    for (const [name, method, query, code, message] of cases) {
      test(`${path} ${name} -> 400 code ${code}`, async () => {
        const body = method === "GET" ? undefined : "4x";
        assertError(await http(endpoint(path, query), { method, body }), 400, code, message);
      });
    }
  }

  test("a forged sid (one character changed) is unknown", async () => {
    const { sid } = await handshake("/socket.io/");
    const i = Math.floor(sid.length / 2);
    const forged = sid.slice(0, i) + (sid[i] === "A" ? "B" : "A") + sid.slice(i + 1);
    assertError(await get("/socket.io/", forged), 400, 1, "Session ID unknown");
    assertError(await post("/socket.io/", forged, "40"), 400, 1, "Session ID unknown");
    assertError(await get("/socket.io/", `${sid}x`), 400, 1, "Session ID unknown");
    // The same hosting object, other random bytes.
    const j = sid.length - 3;
    const sibling = sid.slice(0, j) + (sid[j] === "A" ? "B" : "A") + sid.slice(j + 1);
    assertError(await get("/socket.io/", sibling), 400, 1, "Session ID unknown");
    assertError(await post("/socket.io/", sibling, "40"), 400, 1, "Session ID unknown");
  });

  const wsCases = [
    ["EIO missing", "transport=websocket", 5, "Unsupported protocol version"],
    ["EIO=abc", "EIO=abc&transport=websocket", 5, "Unsupported protocol version"],
    ["transport missing", "EIO=4", 0, "Transport unknown"],
    ["unknown sid", "EIO=4&transport=websocket&sid=abc", 1, "Session ID unknown"],
  ];
  for (const [name, query, code, message] of wsCases) {
    test(`websocket handshake with ${name} is refused with 400 code ${code}`, async () => {
      const w = new Wire(wsUrl("/socket.io/", query));
      try {
        const err = await w.opened().then(() => null, (e) => e);
        assert.ok(err?.status, `the upgrade must be refused, got ${err?.message ?? "an open socket"}`);
        assert.equal(err.status, 400);
        assert.equal(err.contentType?.split(";")[0].trim(), "application/json");
        assert.deepEqual(JSON.parse(err.body), { code, message });
      } finally { w.close(); }
    });
  }
});

describe("heartbeat", () => {
  for (const path of PATHS) {
    test(`polling on ${path}: three ping/pong cycles, then a missed pong closes the session`, async () => {
      const started = Date.now();
      const { sid } = await handshake(path);
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const r = await get(path, sid);
        assert.equal(r.status, 200);
        assert.equal(r.body, "2", `ping ${i + 1}`);
        if (i === 0) assert.ok(Date.now() - started >= PING_INTERVAL / 2, "the first poll is held until a ping is due");
        else assert.ok(Date.now() - t0 >= PING_INTERVAL / 2, `poll ${i + 1} is held until the next ping`);
        const p = await post(path, sid, "3");
        assert.equal(p.status, 200);
        assert.equal(p.body, "ok");
      }
      const r = await get(path, sid);
      assert.equal(r.body, "2", "fourth ping");
      await sleep(PING_TIMEOUT + 500);
      assertError(await get(path, sid), 400, 1, "Session ID unknown");
    });

    test(`polling on ${path}: a first ping never answered closes the session`, async () => {
      const { sid } = await handshake(path);
      await sleep(PING_INTERVAL + PING_TIMEOUT + 500);
      assertError(await get(path, sid), 400, 1, "Session ID unknown");
    });

    test(`websocket on ${path}: three ping/pong cycles, then a missed pong closes the socket`, async () => {
      const { wire } = await openWire(path);
      try {
        for (let i = 0; i < 3; i++) {
          assert.equal(await wire.nextText(PING_INTERVAL + SLACK), "2", `ping ${i + 1}`);
          wire.send("3");
        }
        assert.equal(await wire.nextText(PING_INTERVAL + SLACK), "2", "fourth ping");
        assert.equal(wire.noops, 3, "each pong was answered with a noop (6)");
        assert.equal(await wire.waitClose(PING_TIMEOUT + SLACK), 1000);
        assert.deepEqual(wire.frames, [], "nothing but pings before the close");
      } finally { wire.close(); }
    });

    test(`websocket on ${path}: a first ping never answered closes the socket`, async () => {
      const { wire } = await openWire(path);
      try {
        assert.equal(await wire.nextText(PING_INTERVAL + SLACK), "2");
        assert.equal(await wire.waitClose(PING_TIMEOUT + SLACK), 1000);
      } finally { wire.close(); }
    });
  }
});

describe("close", () => {
  test("polling: POST 1 ends a pending poll with a noop and forgets the sid", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const pending = get(path, sid);
    await sleep(50);
    const closing = await post(path, sid, "1");
    assert.equal(closing.status, 200);
    assert.equal(closing.body, "ok");
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, "6");
    assertError(await get(path, sid), 400, 1, "Session ID unknown");
    assertError(await post(path, sid, "4late"), 400, 1, "Session ID unknown");
  });

  test("a POST refused by a closed session leaves no uncaught error in the runtime", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    assert.equal((await post(path, sid, "1")).body, "ok");
    const before = uncaughtCount();
    assertError(await post(path, sid, "4late"), 400, 1, "Session ID unknown");
    await sleep(300);
    const tail = gw.logs().split("\n").filter((l) => /Uncaught/.test(l)).slice(-1)[0]?.replace(/\x1b\[[0-9;]*m/g, "").trim();
    assert.equal(uncaughtCount(), before, `the runtime logged: ${tail}`);
  });

  test("websocket: sending 1 makes the server close the socket", async () => {
    const { wire } = await openWire("/engine.io/");
    try {
      wire.send("1");
      assert.equal(await wire.waitClose(2000), 1000);
      assert.deepEqual(wire.frames, []);
    } finally { wire.close(); }
  });
});

describe("payloads", () => {
  const path = "/engine.io/";

  test("one POST with several text packets is echoed in one poll", async () => {
    const { sid } = await handshake(path);
    const p = await post(path, sid, `4test1${SEP}4test2${SEP}4test3`);
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    const r = await get(path, sid);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "text/plain; charset=UTF-8");
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), ["4test1", "4test2", "4test3"]);
  });

  test("packets queued by separate POSTs are returned joined by \\x1e", async () => {
    const { sid } = await handshake(path);
    for (const m of ["4first", "4second", "4third"]) assert.equal((await post(path, sid, m)).body, "ok");
    const r = await get(path, sid);
    assert.equal(r.status, 200);
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), ["4first", "4second", "4third"]);
  });

  test("Socket.IO packets queued for one session come in one poll", async () => {
    const { sid } = await handshake("/socket.io/");
    assert.equal((await post("/socket.io/", sid, "40")).body, "ok");
    const r = await get("/socket.io/", sid);
    const packets = await packetsWithoutPings("/socket.io/", sid, r.body);
    assert.equal(packets.length, 2, JSON.stringify(r.body));
    assert.match(packets[0], /^40\{"sid":"[^"]+"\}$/);
    assert.equal(packets[1], '42["auth",{}]');
  });

  test("UTF-8 text survives polling unchanged", async () => {
    const { sid } = await handshake(path);
    const text = "4h\u00e9llo \u20ac \u{1F600} \u4e16\u754c";
    assert.equal((await post(path, sid, text, { headers: { "content-type": "text/plain;charset=UTF-8" } })).body, "ok");
    const r = await get(path, sid);
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), [text]);
  });

  test("binary over polling is b + base64 and is echoed as such", async () => {
    const { sid } = await handshake(path);
    assert.equal((await post(path, sid, `4hello${SEP}bAQIDBA==`)).body, "ok");
    const r = await get(path, sid);
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), ["4hello", "bAQIDBA=="]);
  });

  test("every byte value survives base64 over polling", async () => {
    const { sid } = await handshake(path);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const packet = `b${bytes.toString("base64")}`;
    assert.equal((await post(path, sid, packet)).body, "ok");
    const r = await get(path, sid);
    const [echo] = await packetsWithoutPings(path, sid, r.body);
    assert.equal(echo, packet);
    assert.deepEqual(Buffer.from(echo.slice(1), "base64"), bytes);
  });

  test("websocket: text and raw binary frames are echoed frame for frame", async () => {
    const { wire } = await openWire(path, { autoPong: true });
    try {
      wire.send("4hello");
      assert.deepEqual(await wire.next(), { text: "4hello" });
      const text = "4h\u00e9llo \u20ac \u{1F600}";
      wire.send(text);
      assert.deepEqual(await wire.next(), { text });
      wire.send(Uint8Array.from([1, 2, 3, 4]));
      assert.deepEqual(await wire.next(), { binary: Buffer.from([1, 2, 3, 4]) });
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      wire.send(all);
      assert.deepEqual(await wire.next(), { binary: all });
      assert.ok(!wire.closed);
    } finally { wire.close(); }
  });

  test("websocket: an invalid packet closes the socket", async () => {
    const { wire } = await openWire(path, { autoPong: true });
    try {
      wire.send("abc");
      assert.equal(await wire.waitClose(2000), 1000);
      assert.deepEqual(wire.frames, []);
    } finally { wire.close(); }
  });

  test("websocket: a frame of maxPayload bytes is echoed, one byte more closes with 1009", async () => {
    const { wire } = await openWire(path, { autoPong: true });
    try {
      const exact = `4${"m".repeat(MAX_PAYLOAD - 1)}`;
      wire.send(exact);
      assert.deepEqual(await wire.next(), { text: exact });
      wire.send(`4${"m".repeat(MAX_PAYLOAD)}`);
      assert.equal(await wire.waitClose(3000), 1009);
      assert.deepEqual(wire.frames, []);
    } finally { wire.close(); }
  });

  for (const body of ["abc", `4fine${SEP}abc`]) {
    test(`polling: an unparseable payload (${JSON.stringify(body)}) closes the session`, async () => {
      const { sid } = await handshake(path);
      const p = await post(path, sid, body);
      // The reference server answers ok and then drops the session; a 400 is as good.
      assert.ok(p.status === 400 || (p.status === 200 && p.body === "ok"), `POST answered ${p.status} ${JSON.stringify(p.body)}`);
      assertError(await get(path, sid), 400, 1, "Session ID unknown");
    });
  }
});

describe("polling rules", () => {
  const path = "/engine.io/";

  test("a second concurrent GET is refused with 400 and closes the session", async () => {
    const { sid } = await handshake(path);
    const first = get(path, sid, { timeout: 3000 }).then((r) => r, (e) => e);
    await sleep(50);
    const second = await get(path, sid);
    assertError(second, 400, 3, "Bad request");
    const r = await first;
    assert.ok(!(r instanceof Error), `the first poll must be answered once the session closes: ${r.message}`);
    assert.equal(r.status, 200);
    assert.equal(r.body, "1", "the first poll gets the close packet");
    assertError(await get(path, sid), 400, 1, "Session ID unknown");
  });

  test("a second concurrent POST is refused with 400 Bad request and closes the session", async () => {
    // The object reads a POST's body after noting the POST, so large bodies sent together
    // overlap there. Bounded tries: each round opens a fresh session.
    const body = `4${"p".repeat(MAX_PAYLOAD - 1)}`;
    let overlapped = null;
    const seen = [];
    for (let round = 0; round < 5 && !overlapped; round++) {
      const { sid } = await handshake(path);
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(path, sid, body, { timeout: 15_000 })));
      seen.push(answers.map((a) => `${a.status} ${a.body.slice(0, 60)}`).join(" | "));
      for (const a of answers) {
        if (a.status === 200) { assert.equal(a.body, "ok"); continue; }
        const err = JSON.parse(a.body);
        assert.ok(err.code === 3 || err.code === 1, `unexpected answer ${a.status} ${a.body}`);
        if (err.code === 3) { assertError(a, 400, 3, "Bad request"); overlapped = sid; }
      }
    }
    assert.ok(overlapped, `no POST overlapped another in 5 rounds:\n${seen.join("\n")}`);
    assertError(await get(path, overlapped), 400, 1, "Session ID unknown");
  });

  test("transport=websocket without an upgrade on an existing sid is refused; the session goes on", async () => {
    const { sid } = await handshake(path);
    assertError(await http(endpoint(path, `EIO=4&transport=websocket&sid=${encodeURIComponent(sid)}`)), 400, 3, "Bad request");
    assert.equal((await post(path, sid, "4still")).body, "ok");
    const r = await get(path, sid);
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), ["4still"]);
  });

  test("a payload of exactly maxPayload bytes is accepted", async () => {
    const { sid } = await handshake(path);
    const body = `4${"a".repeat(MAX_PAYLOAD - 1)}`;
    const p = await post(path, sid, body);
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    const r = await get(path, sid);
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), [body]);
  });

  test("a payload over maxPayload gets 413 and closes the session", async () => {
    const { sid } = await handshake(path);
    const pending = get(path, sid);
    await sleep(50);
    const p = await post(path, sid, `4${"a".repeat(MAX_PAYLOAD)}`);
    assert.equal(p.status, 413);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, "1", "the held poll gets the close packet");
    assertError(await get(path, sid), 400, 1, "Session ID unknown");
    const { sid: fresh } = await handshake(path);
    assert.equal((await post(path, fresh, "4next")).body, "ok", "the server keeps answering");
  });
});

describe("upgrade", () => {
  test("probe, noop flush, upgrade, then messages flow over the WebSocket", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const w = await upgrade(path, sid);
    try {
      w.send("4hello");
      assert.deepEqual(await w.next(), { text: "4hello" });
      w.send(Uint8Array.from([9, 8, 7]));
      assert.deepEqual(await w.next(), { binary: Buffer.from([9, 8, 7]) });
    } finally { w.close(); }
  });

  test("a poll sent after the probe answer gets the noop at once", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const w = new Wire(wsUrl(path, `EIO=4&transport=websocket&sid=${sid}`), { autoPong: true });
    try {
      await w.opened();
      w.send("2probe");
      assert.equal(await w.nextText(), "3probe");
      const r = await get(path, sid, { timeout: 2000 });
      assert.equal(r.status, 200);
      assert.ok(r.body === "6" || r.body === `2${SEP}6` || r.body === `6${SEP}2`, `noop expected, got ${JSON.stringify(r.body)}`);
      w.send("5");
      w.send("4after");
      assert.deepEqual(await w.next(), { text: "4after" });
    } finally { w.close(); }
  });

  test("after the upgrade, polling requests for the sid get 400 Bad request", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const w = await upgrade(path, sid);
    try {
      // `5` and the poll travel on different connections; let the frame land first.
      await sleep(50);
      assertError(await get(path, sid), 400, 3, "Bad request");
      assertError(await post(path, sid, "4via-polling"), 400, 3, "Bad request");
        w.send("4still-here");
      assert.deepEqual(await w.next(), { text: "4still-here" });
    } finally { w.close(); }
  });

  test("a second WebSocket for an upgraded sid is accepted and closed; the first keeps working", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const w = await upgrade(path, sid);
    const w2 = new Wire(wsUrl(path, `EIO=4&transport=websocket&sid=${sid}`));
    try {
      // As the reference server does: the socket opens, then closes at once with no packet.
      await w2.opened();
      assert.equal(await w2.waitClose(5000), 1000);
      assert.deepEqual(w2.frames, [], "the second socket gets no packet");
      w.send("4first");
      assert.deepEqual(await w.next(), { text: "4first" });
    } finally { w.close(); w2.close(); }
  });

  test("a second WebSocket while an upgrade is under way is accepted and closed", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const w = new Wire(wsUrl(path, `EIO=4&transport=websocket&sid=${sid}`), { autoPong: true });
    let w2;
    try {
      // The probe socket first, then a second one while its upgrade is under way.
      await w.opened();
      w2 = new Wire(wsUrl(path, `EIO=4&transport=websocket&sid=${sid}`));
      await w2.opened();
      assert.equal(await w2.waitClose(5000), 1000);
      assert.deepEqual(w2.frames, []);
      w.send("2probe");
      assert.equal(await w.nextText(), "3probe");
    } finally { w.close(); w2?.close(); }
  });

  test("anything but a probe or an upgrade on the probe socket closes it with 1008; polling goes on", async () => {
    const path = "/engine.io/";
    const { sid } = await handshake(path);
    const w = new Wire(wsUrl(path, `EIO=4&transport=websocket&sid=${sid}`));
    try {
      await w.opened();
      w.send("4too-early");
      assert.equal(await w.waitClose(2000), 1008);
      assert.deepEqual(w.frames, []);
    } finally { w.close(); }
    assert.equal((await post(path, sid, "4via-polling")).body, "ok");
    const r = await get(path, sid);
    assert.deepEqual(await packetsWithoutPings(path, sid, r.body), ["4via-polling"]);
  });

  test("Socket.IO over an upgraded session", async () => {
    const path = "/socket.io/";
    const { sid } = await handshake(path);
    assert.equal((await post(path, sid, "40")).body, "ok");
    const r = await get(path, sid);
    const packets = await packetsWithoutPings(path, sid, r.body);
    assert.match(packets[0], /^40\{"sid":"[^"]+"\}$/);
    assert.equal(packets[1], '42["auth",{}]');
    const w = await upgrade(path, sid);
    try {
      w.send('42["message","after upgrade"]');
      assert.deepEqual(await w.next(), { text: '42["message-back","after upgrade"]' });
      w.send('4212["message-with-ack","acked"]');
      assert.deepEqual(await w.next(), { text: '4312["acked"]' });
    } finally { w.close(); }
  });
});

describe("runtime health", () => {
  test("nothing in this file made the runtime log an uncaught error", () => {
    const lines = gw.logs().split("\n").filter((l) => /Uncaught/.test(l)).map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").trim());
    assert.deepEqual(lines, []);
  });
});
