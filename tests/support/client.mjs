// Helpers around the stock socket.io-client for end-to-end tests.
import { io } from "socket.io-client";

export const PLACEMENTS = ["auth", "header", "query"];

/** socket.io-client options that put `token` where `placement` says. */
export function withToken(placement, token, extra = {}) {
  const opts = { reconnection: false, forceNew: true, timeout: 10_000, ...extra };
  if (token === undefined) return opts;
  if (placement === "auth") opts.auth = { token };
  else if (placement === "header") opts.extraHeaders = { Authorization: `Bearer ${token}` };
  else if (placement === "query") opts.query = { token };
  else throw new Error(`unknown placement ${placement}`);
  return opts;
}

/** Resolves with the socket once connected; rejects with the connect_error. */
export function connect(url, opts) {
  const socket = io(url, opts);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { socket.close(); reject(new Error("connect timed out")); }, 15_000);
    socket.once("connect", () => { clearTimeout(t); resolve(socket); });
    socket.once("connect_error", (err) => { clearTimeout(t); socket.close(); reject(err); });
  });
}

/** The next `event` on `emitter`, or a rejection after `ms`. */
export function next(emitter, event, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (first) => { clearTimeout(t); resolve(first); });
  });
}

/** Sends a prompt (with `extra` payload fields) and waits for its prompt-response. */
export async function ask(socket, prompt, ms = 10_000, extra = {}) {
  const response = next(socket, "prompt-response", ms);
  socket.emit("send-prompt", { prompt, ...extra });
  return response;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
