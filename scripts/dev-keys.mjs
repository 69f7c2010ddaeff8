#!/usr/bin/env node
// The dev loop's identity provider: an RS256, an ES256 and an EdDSA key (made once, kept in
// .wrangler/dev-keys.json), their JWKS at http://127.0.0.1:$PORT/jwks.json, and
// /token?alg=ES256&sub=alice&ttl=3600 that signs a token with one of them (for the test page;
// loopback only, dev only). ./scripts/dev starts it and points JWT_JWKS_URL at it.
//   node scripts/dev-keys.mjs [--port 8788]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ALGS, keyFromJwk, makeKey, signWith, startJwksServer } from "../tests/support/idp.mjs";

const FILE = new URL("../.wrangler/dev-keys.json", import.meta.url);

/** The dev keys by algorithm, made on first use. */
export async function loadDevKeys() {
  if (!existsSync(FILE)) {
    const made = [];
    for (const alg of ALGS) made.push((await makeKey(alg, `dev-${alg.toLowerCase()}`)).privateJwk);
    mkdirSync(new URL(".", FILE), { recursive: true });
    writeFileSync(FILE, JSON.stringify(made, null, 2), { mode: 0o600 });
  }
  const keys = {};
  for (const jwk of JSON.parse(readFileSync(FILE, "utf8"))) keys[jwk.alg] = await keyFromJwk(jwk);
  return keys;
}

/** The public half of a private JWK. */
function publicJwk({ d, p, q, dp, dq, qi, ...pub }) {
  return { ...pub, use: "sig" };
}

async function main() {
  const i = process.argv.indexOf("--port");
  const port = Number(i > 0 ? process.argv[i + 1] : process.env.DEV_KEYS_PORT ?? 8788);
  const keys = await loadDevKeys();
  const published = Object.values(keys).map((k) => publicJwk(k.privateJwk));
  const server = await startJwksServer(published, {
    port,
    cacheControl: "max-age=60",
    extra: (req, res) => {
      const url = new URL(req.url, "http://x");
      if (url.pathname !== "/token") return false;
      const key = keys[url.searchParams.get("alg") ?? "ES256"];
      const sub = url.searchParams.get("sub") || "dev-user";
      const ttl = Math.min(Number(url.searchParams.get("ttl")) || 3600, 86_400);
      const head = { "Content-Type": "application/json", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*" };
      if (!key || sub.length > 256) { res.writeHead(400, head).end(JSON.stringify({ error: `alg is one of ${ALGS.join(", ")}` })); return true; }
      signWith(key, { sub }, { ttl }).then((token) => {
        res.writeHead(200, head).end(JSON.stringify({ token, sub, alg: key.alg, expiresAt: Math.floor(Date.now() / 1000) + ttl }));
      });
      return true;
    },
  });
  console.log(`[dev-keys] JWKS ${server.url} (kids ${Object.values(keys).map((k) => k.kid).join(", ")})`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
