// Helpers for the push API (`/api/v1/*`): calls with a bearer token, and waiting for a room's
// members to be what a test expects (joins reach the room in the background).
import { sleep } from "./client.mjs";

export const PUSH_TOKEN = "push-token-for-e2e-only";

/** Calls the API; `body` (an object) is sent as JSON. Resolves with `{ status, json, headers }`. */
export async function api(gwUrl, path, { method = "GET", body, token = PUSH_TOKEN, raw } = {}) {
  const headers = {};
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined || raw !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${gwUrl}/api/v1/${path}`, {
    method,
    headers,
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

/** `POST /api/v1/emit`; throws unless it answers 200. */
export async function emit(gwUrl, body) {
  const r = await api(gwUrl, "emit", { method: "POST", body });
  if (r.status !== 200) throw new Error(`emit answered ${r.status}: ${r.text}`);
  return r.json;
}

export async function presence(gwUrl, user) {
  const r = await api(gwUrl, `users/${encodeURIComponent(user)}`);
  if (r.status !== 200) throw new Error(`presence answered ${r.status}: ${r.text}`);
  return r.json;
}

/** Waits (bounded) until `room` counts `n` members; returns the last count seen. */
export async function roomMembers(gwUrl, room, n, ms = 10_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    const r = await api(gwUrl, `rooms/${encodeURIComponent(room)}`);
    last = r.json?.members;
    if (last === n) return last;
    await sleep(50);
  }
  throw new Error(`room ${room} has ${last} members, expected ${n}`);
}

/** Collects every `event` a socket receives, with its arguments. */
export function collect(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args));
  return got;
}

/**
 * Connects `n` users (`user(i)` names each, `opts(i)` gives socket.io-client options),
 * `concurrency` at a time; closes every socket already open if one fails.
 */
export async function connectMany(n, concurrency, open) {
  const sockets = new Array(n);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < n) {
      const i = nextIndex++;
      sockets[i] = await open(i);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } catch (e) {
    for (const s of sockets) s?.close();
    throw e;
  }
  return sockets;
}

/**
 * Emits to `room` and resolves once every socket got `event` (or rejects after `ms`): the
 * emit's answer, the time until the answer and until the last socket received it, and how
 * many times each socket received it.
 */
export async function timedRoomEmit(gwUrl, sockets, room, event, data, ms = 30_000) {
  const counts = new Array(sockets.length).fill(0);
  let missing = sockets.length;
  let allAt = 0;
  let resolveAll;
  const all = new Promise((r) => { resolveAll = r; });
  const handlers = sockets.map((s, i) => {
    const h = () => {
      counts[i]++;
      if (counts[i] === 1 && --missing === 0) { allAt = performance.now(); resolveAll(); }
    };
    s.on(event, h);
    return h;
  });
  const start = performance.now();
  try {
    const answer = await emit(gwUrl, { room, event, data });
    const answeredAt = performance.now();
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${missing} of ${sockets.length} never received ${event}`)), ms);
    });
    await Promise.race([all, late]).finally(() => clearTimeout(timer));
    return { answer, answerMs: answeredAt - start, allMs: allAt - start, counts };
  } finally {
    sockets.forEach((s, i) => s.off(event, handlers[i]));
  }
}
