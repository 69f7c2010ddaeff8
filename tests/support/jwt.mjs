// HS256 tokens for tests and the dev loop, signed with node:crypto.
import { createHmac } from "node:crypto";

const b64url = (data) => Buffer.from(data).toString("base64url");

export function signToken(secret, claims, header = { alg: "HS256", typ: "JWT" }) {
  const head = b64url(JSON.stringify(header));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** A token for `sub`, valid for `ttlSeconds` (negative for an already expired one). */
export function tokenFor(secret, sub, ttlSeconds = 3600, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signToken(secret, { sub, iat: now, exp: now + ttlSeconds, ...extra });
}
