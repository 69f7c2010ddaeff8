// Figures of tokens from identity providers (./scripts/bench --idp): `io()` to `connect` per
// algorithm with the JWKS cached, by route (a header token verified once by the Worker; an
// auth-payload token on a relayed WebSocket, verified by the relay and again by the user's
// object), the verification's share of it (each algorithm's p50 minus HS256's on the same
// route), the same signature checks with Node's WebCrypto for reference, and the wasm size.
//   node bench/idp.mjs [--connects 100] [--warmup 20] [--before path/to/other/index_bg.wasm]
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { randomUUID, webcrypto } from "node:crypto";
import { startGateway, ROOT } from "../tests/support/gateway.mjs";
import { withToken, connect } from "../tests/support/client.mjs";
import { tokenFor } from "../tests/support/jwt.mjs";
import { ALGS, makeKey, signWith, startJwksServer } from "../tests/support/idp.mjs";
import { arg, argText } from "./stats.mjs";

const CONNECTS = arg("connects", 100);
const WARMUP = arg("warmup", 20);
const SECRET = `bench-${randomUUID()}`;
const RUN = randomUUID().slice(0, 8);
let n = 0;
const user = () => `idp-${RUN}-${++n}`;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const size = (path) => {
  const w = readFileSync(path);
  return `${w.length} bytes, ${gzipSync(w, { level: 9 }).length} bytes gzipped`;
};
console.log(`wasm module: ${size(join(ROOT, "build", "index_bg.wasm"))} (budget ${300 * 1024} gzipped)`);
const before = argText("before", null);
if (before) console.log(`wasm module before (${before}): ${size(before)}`);

const keys = {};
for (const alg of ALGS) keys[alg] = await makeKey(alg);
const jwks = await startJwksServer(Object.values(keys), { cacheControl: "max-age=3600" });
const gw = await startGateway({
  vars: { JWT_SECRET: SECRET, JWT_JWKS_URL: jwks.url, CONNECT_RATE_PER_MINUTE: "0", HANDSHAKE_LIMIT_PER_10S: "0" },
});
const token = async (alg) => (alg === "HS256" ? tokenFor(SECRET, user(), 3600) : signWith(keys[alg], { sub: user() }));

async function timed(alg, placement) {
  const t = await token(alg);
  const t0 = performance.now();
  const s = await connect(gw.url, withToken(placement, t, { transports: ["websocket"] }));
  const elapsed = performance.now() - t0;
  s.close();
  return elapsed;
}

try {
  const all = ["HS256", ...ALGS];
  for (let i = 0; i < WARMUP; i++) for (const alg of all) for (const p of ["header", "auth"]) await timed(alg, p);
  const fetchedBefore = jwks.requests;
  const samples = {};
  // Interleaved, so drift in the host's load hits every algorithm alike.
  for (let i = 0; i < CONNECTS; i++) {
    for (const alg of all) {
      for (const p of ["header", "auth"]) (samples[`${alg} ${p}`] ??= []).push(await timed(alg, p));
    }
  }
  console.log(`conditions: wrangler dev --local, WebSocket only, ${WARMUP} untimed rounds first, n=${CONNECTS} per cell, interleaved; ` +
    `JWKS fetched ${jwks.requests - fetchedBefore} times during the timed part (cached)`);
  for (const p of ["header", "auth"]) {
    const base = pct(samples[`HS256 ${p}`], 50);
    for (const alg of all) {
      const xs = samples[`${alg} ${p}`];
      const p50 = pct(xs, 50);
      const d = p50 - base;
      const extra = alg === "HS256" ? "" : `, ${d >= 0 ? "+" : ""}${d.toFixed(1)} ms against HS256`;
      console.log(`connect ${alg.padEnd(5)} ${p === "header" ? "header token (Worker)" : "auth payload (relay + object)"}: p50 ${p50.toFixed(1)} ms, p90 ${pct(xs, 90).toFixed(1)} ms${extra}`);
    }
  }
  await subtleReference();
} finally {
  await gw.stop();
  await jwks.close();
}

/** Node's WebCrypto verifying the same kinds of signatures (key imported once). */
async function subtleReference() {
  const params = {
    RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
    ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
    EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
  };
  for (const alg of ALGS) {
    const t = await signWith(keys[alg], { sub: "x" });
    const [h, p, s] = t.split(".");
    const { kid, alg: _a, use, ...jwk } = keys[alg].publicJwk;
    const key = await webcrypto.subtle.importKey("jwk", jwk, params[alg][0], false, ["verify"]);
    const data = Buffer.from(`${h}.${p}`);
    const sig = Buffer.from(s, "base64url");
    const rounds = 2000;
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) {
      if (!(await webcrypto.subtle.verify(params[alg][1], key, sig, data))) throw new Error(`${alg} did not verify`);
    }
    console.log(`Node WebCrypto verify ${alg}: ${((performance.now() - t0) * 1000 / rounds).toFixed(0)} µs each (reference)`);
  }
}
