// Tokens from identity providers: RS256, ES256 and EdDSA verified with keys from a JWKS (a local
// server the test starts and counts) or from JWT_PUBLIC_KEYS, in every placement and on both
// transports; key rotation; the refetch limit under an unknown-kid flood; a JWKS endpoint that
// is down; algorithm confusion and bad claims; the user claim path; expiry during a session.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startGateway, TEST_SECRET } from "../support/gateway.mjs";
import { PLACEMENTS, withToken, connect, next, ask, sleep } from "../support/client.mjs";
import { ALGS, makeKey, signWith, startJwksServer } from "../support/idp.mjs";
import { signToken } from "../support/jwt.mjs";

const ISS = "https://idp.test/";
const AUD = "gateway-e2e";
/** The gateway's refetch interval for an unknown kid. */
const REFETCH_MS = 5000;

const b64url = (s) => Buffer.from(s).toString("base64url");

/** Resolves with the connect_error's code (fails when the connection is accepted). */
async function refusedWith(url, placement, token, transports = ["websocket"]) {
  try {
    const s = await connect(url, withToken(placement, token, { transports }));
    s.close();
  } catch (err) {
    return err.data?.code;
  }
  assert.fail("the connection was accepted");
}

async function accepted(url, placement, token, transports = ["websocket"]) {
  const s = await connect(url, withToken(placement, token, { transports }));
  try {
    const r = await ask(s, "who");
    assert.equal(r.response, "Echo: who");
  } finally { s.close(); }
}

describe("a JWKS provider", () => {
  let jwks, gw;
  const keys = {};
  before(async () => {
    for (const alg of ALGS) keys[alg] = await makeKey(alg);
    jwks = await startJwksServer(Object.values(keys));
    gw = await startGateway({ vars: { JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISS, JWT_AUDIENCE: AUD } });
  });
  after(async () => { await gw?.stop(); await jwks?.close(); });

  const claims = (sub) => ({ sub, iss: ISS, aud: AUD });

  for (const alg of ALGS) {
    for (const placement of PLACEMENTS) {
      for (const transport of ["websocket", "polling"]) {
        test(`${alg} in the ${placement} over ${transport} is accepted`, async () => {
          const token = await signWith(keys[alg], claims(`${alg}-${placement}-${transport}`));
          await accepted(gw.url, placement, token, [transport]);
        });
      }
    }
  }

  test("HS256 with JWT_SECRET keeps working beside the JWKS", async () => {
    await accepted(gw.url, "auth", gw.token("hs-user", 3600, { iss: ISS, aud: AUD }));
  });

  test("a token signed by another key under a known kid is TOKEN_INVALID", async () => {
    const impostor = await makeKey("ES256", keys.ES256.kid);
    const token = await signWith(impostor, claims("impostor"));
    for (const placement of PLACEMENTS) assert.equal(await refusedWith(gw.url, placement, token), "TOKEN_INVALID", placement);
  });

  test("algorithm confusion and alg none are TOKEN_INVALID", async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = { ...claims("confused"), exp: now + 600 };
    // HS256 keyed with the RSA public key, as published, under its kid.
    const pem = keys.RS256.publicJwk;
    const forged = [
      signToken(JSON.stringify(pem), body, { alg: "HS256", kid: keys.RS256.kid }),
      signToken(jwkPem(keys.RS256), body, { alg: "HS256", kid: keys.RS256.kid }),
      // An RS256 header on an ES256 signature under the EC key's kid.
      retag(await signWith(keys.ES256, body), { alg: "RS256", kid: keys.ES256.kid }),
      `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(body))}.`,
      `${b64url(JSON.stringify({ alg: "none", kid: keys.RS256.kid }))}.${b64url(JSON.stringify(body))}.${b64url("x")}`,
    ];
    for (const token of forged) {
      for (const placement of PLACEMENTS) {
        assert.equal(await refusedWith(gw.url, placement, token, ["polling"]), "TOKEN_INVALID", `${placement} ${token.slice(0, 40)}`);
      }
    }
  });

  test("wrong issuer, wrong audience, missing user claim, expired", async () => {
    const cases = [
      [{ sub: "u", iss: "https://evil.test/", aud: AUD }, {}, "TOKEN_INVALID"],
      [{ sub: "u", iss: ISS, aud: "someone-else" }, {}, "TOKEN_INVALID"],
      [{ iss: ISS, aud: AUD }, {}, "TOKEN_INVALID"],
      [{ sub: "u", iss: ISS, aud: AUD }, { ttl: -120 }, "TOKEN_EXPIRED"],
    ];
    for (const [c, opts, code] of cases) {
      const token = await signWith(keys.EdDSA, c, opts);
      for (const placement of PLACEMENTS) {
        assert.equal(await refusedWith(gw.url, placement, token), code, `${placement} ${JSON.stringify(c)}`);
      }
    }
  });

  test("a new kid is picked up and a removed one stops verifying, without a restart", async () => {
    const fresh = await makeKey("RS256");
    const old = keys.RS256;
    jwks.setKeys([fresh, keys.ES256, keys.EdDSA]);
    const before = jwks.requests;
    await sleep(REFETCH_MS + 200);
    for (const placement of PLACEMENTS) {
      await accepted(gw.url, placement, await signWith(fresh, claims(`rotated-${placement}`)), ["polling"]);
    }
    assert.ok(jwks.requests > before, "the unknown kid made the gateway fetch the set again");
    await sleep(REFETCH_MS + 200);
    // The old kid is unknown now: its refetch finds the same set, and the key is gone.
    for (const placement of PLACEMENTS) {
      assert.equal(await refusedWith(gw.url, placement, await signWith(old, claims("old"))), "TOKEN_INVALID", placement);
    }
    keys.RS256 = fresh;
  });

  test("an unknown-kid flood makes at most one refetch per 5 s", async () => {
    await sleep(REFETCH_MS + 200);
    const before = jwks.requests;
    const started = Date.now();
    let refused = 0;
    // 60 tokens with random kids, header placement (verified by the Worker at the handshake)
    // and auth placement (verified by the objects).
    for (let i = 0; i < 30; i++) {
      const rogue = await makeKey("ES256", `rogue-${i}-${Math.random()}`);
      const token = await signWith(rogue, claims("flood"));
      for (const placement of ["header", "auth"]) {
        if ((await refusedWith(gw.url, placement, token, ["polling"])) === "TOKEN_INVALID") refused++;
      }
    }
    const elapsed = Date.now() - started;
    const made = jwks.requests - before;
    assert.equal(refused, 60);
    // One slot per 5 s, in the Worker and in the objects, which may run in separate isolates.
    const allowed = 2 * (Math.floor(elapsed / REFETCH_MS) + 1);
    assert.ok(made <= allowed, `${made} JWKS requests in ${elapsed} ms (at most ${allowed})`);
    assert.ok(elapsed > 1000, "the flood lasted long enough to mean something");
  });

  test("while the JWKS endpoint is down, cached keys keep working and the failure is logged", async () => {
    jwks.down = true;
    try {
      await sleep(REFETCH_MS + 200);
      const before = jwks.requests;
      // An unknown kid makes the gateway try, and fail.
      const rogue = await makeKey("EdDSA");
      for (const placement of ["header", "auth"]) {
        assert.equal(await refusedWith(gw.url, placement, await signWith(rogue, claims("rogue"))), "TOKEN_INVALID");
      }
      assert.ok(jwks.requests > before, "the gateway asked the endpoint that is down");
      for (const alg of ALGS) {
        for (const placement of PLACEMENTS) {
          await accepted(gw.url, placement, await signWith(keys[alg], claims(`down-${alg}-${placement}`)), ["polling"]);
        }
      }
      const deadline = Date.now() + 3000;
      const failed = () => gw.jsonLogs().find((l) => l.msg?.startsWith("JWKS fetch failed"));
      while (!failed() && Date.now() < deadline) await sleep(100);
      assert.ok(failed(), "the failed fetch is logged");
      assert.match(failed().reason, /503/);
    } finally { jwks.down = false; }
  });
});

/** `token` with its header replaced (the signature stays). */
function retag(token, header) {
  const [, body, sig] = token.split(".");
  return `${b64url(JSON.stringify(header))}.${body}.${sig}`;
}

/** The PEM of a key's public half, as an attacker would use it as an HMAC secret. */
function jwkPem(key) {
  return createPublicPem(key.publicJwk);
}

import { createPublicKey } from "node:crypto";
function createPublicPem(jwk) {
  const { kid, alg, use, ...material } = jwk;
  return createPublicKey({ key: material, format: "jwk" }).export({ type: "spki", format: "pem" });
}

describe("JWT_PUBLIC_KEYS and JWT_USER_CLAIM", () => {
  let gw, es, ed;
  before(async () => {
    es = await makeKey("ES256");
    ed = await makeKey("EdDSA");
    // A PEM key and a JWK, no JWT_SECRET: any one key source is enough.
    const publicKeys = JSON.stringify({ keys: [es.publicJwk, ed.publicJwk] });
    gw = await startGateway({
      vars: { JWT_SECRET: null, JWT_PUBLIC_KEYS: publicKeys, JWT_USER_CLAIM: "app_metadata.uid", JWT_LEEWAY_SECONDS: "0" },
    });
  });
  after(async () => { await gw?.stop(); });

  test("the user id comes from the nested claim; without it the token is TOKEN_INVALID", async () => {
    const token = await signWith(es, { sub: "auth0|1", app_metadata: { uid: "nested-user" } });
    const first = await connect(gw.url, withToken("auth", token, { transports: ["websocket"] }));
    try {
      // Another token with another sub but the same uid is the same user: it replaces the first.
      const replaced = next(first, "error");
      const other = await signWith(ed, { sub: "auth0|2", app_metadata: { uid: "nested-user" } });
      const second = await connect(gw.url, withToken("header", other, { transports: ["polling"] }));
      assert.equal((await replaced).code, "SESSION_REPLACED");
      second.close();
    } finally { first.close(); }
    const noUid = await signWith(es, { sub: "auth0|3" });
    for (const placement of PLACEMENTS) assert.equal(await refusedWith(gw.url, placement, noUid), "TOKEN_INVALID");
  });

  test("HS256 is refused when no secret is configured", async () => {
    const hs = signToken(TEST_SECRET, { sub: "x", app_metadata: { uid: "x" }, exp: Math.floor(Date.now() / 1000) + 60 });
    assert.equal(await refusedWith(gw.url, "auth", hs), "TOKEN_INVALID");
  });

  test("RS256 is refused when only EC and Ed25519 keys are configured", async () => {
    const rs = await makeKey("RS256", es.kid);
    assert.equal(await refusedWith(gw.url, "auth", await signWith(rs, { app_metadata: { uid: "x" } })), "TOKEN_INVALID");
  });

  test("without DISCONNECT_ON_TOKEN_EXPIRY a connection outlives its token", async () => {
    const token = await signWith(ed, { app_metadata: { uid: "outlives" } }, { ttl: 2 });
    const s = await connect(gw.url, withToken("auth", token, { transports: ["websocket"] }));
    try {
      let gone = false;
      s.on("disconnect", () => { gone = true; });
      await sleep(3500);
      assert.equal(gone, false);
      assert.equal((await ask(s, "still here")).response, "Echo: still here");
    } finally { s.close(); }
  });
});

describe("DISCONNECT_ON_TOKEN_EXPIRY", () => {
  let gw, jwks, key;
  before(async () => {
    key = await makeKey("ES256");
    jwks = await startJwksServer([key]);
    gw = await startGateway({ vars: { JWT_JWKS_URL: jwks.url, DISCONNECT_ON_TOKEN_EXPIRY: "1", JWT_LEEWAY_SECONDS: "1" } });
  });
  after(async () => { await gw?.stop(); await jwks?.close(); });

  test("a burst of connects on a fresh gateway waits for the one JWKS fetch", async () => {
    // Nothing is cached yet: the first token fetches, the others wait for that fetch.
    const tokens = await Promise.all([...Array(8)].map((_, i) => signWith(key, { sub: `burst-${i}` })));
    const sockets = await Promise.all(tokens.map((t) => connect(gw.url, withToken("header", t, { transports: ["polling"] }))));
    sockets.forEach((s) => s.close());
    assert.ok(jwks.requests >= 1 && jwks.requests <= 2, `${jwks.requests} JWKS requests`);
  });

  for (const [placement, transport] of [["auth", "websocket"], ["header", "polling"], ["query", "websocket"], ["auth", "polling"]]) {
    test(`a ${placement} token over ${transport} ends the connection at exp + leeway`, async () => {
      // exp is whole seconds: the token expires at the next second boundary + 2 s.
      const exp = Math.floor(Date.now() / 1000) + 3;
      const token = await signWith(key, { sub: `expiring-${placement}-${transport}`, exp });
      const s = await connect(gw.url, withToken(placement, token, { transports: [transport] }));
      const error = next(s, "error", 8000);
      const gone = next(s, "disconnect", 8000);
      const err = await error;
      const at = Date.now();
      assert.equal(err.code, "TOKEN_EXPIRED");
      assert.equal(await gone, "io server disconnect");
      const due = (exp + 1) * 1000;
      assert.ok(at >= due - 50 && at <= due + 1000, `ended ${at - due} ms after exp + leeway`);
      // A fresh token connects again (the client pattern: `auth` as a function).
      await accepted(gw.url, placement, await signWith(key, { sub: `expiring-${placement}-${transport}` }), [transport]);
    });
  }

  test("HS256 tokens are held to their exp too", async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = signToken(TEST_SECRET, { sub: "hs-expiring", exp });
    const s = await connect(gw.url, withToken("auth", token, { transports: ["websocket"] }));
    assert.equal((await next(s, "error", 6000)).code, "TOKEN_EXPIRED");
    s.close();
  });
});

describe("a JWKS endpoint that misbehaves", () => {
  let gw, jwks, key;
  before(async () => {
    key = await makeKey("RS256");
    jwks = await startJwksServer([key]);
    gw = await startGateway({ vars: { JWT_JWKS_URL: jwks.url } });
  });
  after(async () => { await gw?.stop(); await jwks?.close(); });

  const failure = async (pattern) => {
    const deadline = Date.now() + 5000;
    const find = () => gw.jsonLogs().find((l) => l.msg?.startsWith("JWKS fetch failed") && pattern.test(l.reason));
    while (!find() && Date.now() < deadline) await sleep(100);
    return find();
  };

  test("a set over 64 KB, then one that never comes, are refused; then the set is fetched", async () => {
    const token = () => signWith(key, { sub: "misbehaving" });
    jwks.big = true;
    assert.equal(await refusedWith(gw.url, "header", await token(), ["polling"]), "TOKEN_INVALID");
    assert.ok(await failure(/larger than 65536 bytes/), "the oversized set is logged");
    jwks.big = false;
    jwks.hang = true;
    await sleep(REFETCH_MS + 200);
    const t0 = Date.now();
    assert.equal(await refusedWith(gw.url, "header", await token(), ["polling"]), "TOKEN_INVALID");
    const waited = Date.now() - t0;
    assert.ok(waited >= 2900 && waited < 8000, `refused after ${waited} ms (the fetch timeout is 3 s)`);
    assert.ok(await failure(/no answer within 3000 ms/), "the timeout is logged");
    jwks.hang = false;
    await sleep(REFETCH_MS + 200);
    await accepted(gw.url, "header", await token(), ["polling"]);
  });
});
