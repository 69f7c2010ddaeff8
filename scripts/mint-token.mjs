#!/usr/bin/env node
// Mints an HS256 token for a user id with JWT_SECRET (or the dev secret ./scripts/dev made).
//   node scripts/mint-token.mjs --sub alice [--ttl 3600]
import { readFileSync } from "node:fs";
import { tokenFor } from "../tests/support/jwt.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
let secret = process.env.JWT_SECRET;
if (!secret) {
  try { secret = readFileSync(new URL("../.wrangler/dev-jwt-secret", import.meta.url), "utf8").trim(); } catch {}
}
if (!secret) {
  console.error("JWT_SECRET is unset and no dev secret exists yet (run ./scripts/dev once)");
  process.exit(1);
}
const ttl = Number(arg("ttl", "3600"));
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive number of seconds");
  process.exit(1);
}
console.log(tokenFor(secret, arg("sub", "dev-user"), ttl));
