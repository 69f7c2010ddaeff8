// An identity provider for tests, the bench and the dev loop: key pairs made with `jose`, tokens
// signed with them, and a JWKS server on 127.0.0.1 that counts its requests and can rotate its
// keys, change its Cache-Control or go down.
import { createServer } from "node:http";
import { SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";

export const ALGS = ["RS256", "ES256", "EdDSA"];

/** A key pair for `alg` named `kid`: { alg, kid, privateKey, publicJwk, privateJwk }. */
export async function makeKey(alg, kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}`) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  return { alg, kid, privateKey, publicJwk, privateJwk };
}

/** The key a private JWK (as `makeKey` exports it) describes. */
export async function keyFromJwk(privateJwk) {
  const { kid, alg } = privateJwk;
  return { alg, kid, privateKey: await importJWK(privateJwk, alg), privateJwk };
}

/**
 * A token signed with `key`: `sub` and a lifetime of `ttl` seconds unless `claims` says
 * otherwise; `header` adds to (or overrides) the protected header.
 */
export async function signWith(key, claims = {}, { ttl = 3600, header = {} } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + ttl, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })
    .sign(key.privateKey);
}

/**
 * A JWKS server on 127.0.0.1: `url` (the set), `requests` (how many GETs of it), `setKeys`,
 * `cacheControl`, `down` (answers 503), `hang` (never answers), `big` (answers over 100 KB),
 * `close()`.
 */
export async function startJwksServer(keys = [], { cacheControl = "public, max-age=300", extra, port = 0 } = {}) {
  const state = { keys, cacheControl, down: false, requests: 0 };
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/jwks.json") {
      state.requests++;
      if (state.down) { res.writeHead(503).end("down"); return; }
      // Never answers (until closed).
      if (state.hang) return;
      res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": state.cacheControl });
      const set = { keys: state.keys.map((k) => k.publicJwk ?? k) };
      // Valid JSON, padded past the gateway's 64 KB bound.
      if (state.big) set.padding = "x".repeat(100 * 1024);
      res.end(JSON.stringify(set));
      return;
    }
    if (extra?.(req, res, state)) return;
    res.writeHead(404).end();
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const bound = server.address().port;
  return {
    url: `http://127.0.0.1:${bound}/jwks.json`,
    port: bound,
    get requests() { return state.requests; },
    set down(v) { state.down = v; },
    set hang(v) { state.hang = v; },
    set big(v) { state.big = v; },
    set cacheControl(v) { state.cacheControl = v; },
    setKeys(k) { state.keys = k; },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}
