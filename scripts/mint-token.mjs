#!/usr/bin/env node
// Mints a token for a user id: HS256 with JWT_SECRET (or the dev secret ./scripts/dev made), or
// RS256 / ES256 / EdDSA with the dev key set ./scripts/dev serves as its JWKS
// (.wrangler/dev-keys.json, made on first use).
//   node scripts/mint-token.mjs --sub alice [--ttl 3600] [--alg HS256|RS256|ES256|EdDSA]
import { readFileSync } from "node:fs";
import { tokenFor } from "../tests/support/jwt.mjs";
import { ALGS, signWith } from "../tests/support/idp.mjs";
import { loadDevKeys } from "./dev-keys.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const ttl = Number(arg("ttl", "3600"));
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive number of seconds");
  process.exit(1);
}
const alg = arg("alg", "HS256");
const sub = arg("sub", "dev-user");
if (ALGS.includes(alg)) {
  const keys = await loadDevKeys();
  console.log(await signWith(keys[alg], { sub }, { ttl }));
  process.exit(0);
}
if (alg !== "HS256") {
  console.error(`--alg must be HS256, ${ALGS.join(", ")}`);
  process.exit(1);
}
let secret = process.env.JWT_SECRET;
if (!secret) {
  try { secret = readFileSync(new URL("../.wrangler/dev-jwt-secret", import.meta.url), "utf8").trim(); } catch {}
}
if (!secret) {
  console.error("JWT_SECRET is unset and no dev secret exists yet (run ./scripts/dev once)");
  process.exit(1);
}
console.log(tokenFor(secret, sub, ttl));
