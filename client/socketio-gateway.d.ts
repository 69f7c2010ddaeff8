// The gateway's events for socket.io-client's typed sockets (CONTRACT.md sections 1-5):
//
//   import { io, type Socket } from "socket.io-client";
//   import type { ServerToClientEvents, ClientToServerEvents } from "./socketio-gateway.js";
//   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { auth: { token } });
// (`io()` of socket.io-client 4.8 takes no type arguments; the annotation types the socket.)
// `send-prompt` and `cancel-prompt` take an optional ack, so socket.io-client types their
// `emitWithAck` result as `any`: annotate it (`const ack: SendPromptAck = await ...`).

/** Codes that refuse a `send-prompt` before it runs (nothing is processed). */
export type RejectionCode = "INVALID_PROMPT" | "PROMPT_TOO_LARGE" | "TOO_MANY_PROMPTS" | "RATE_LIMITED";

/** Codes that end an accepted prompt instead of a `prompt-response`. */
export type TerminalCode =
  | "PROMPT_CANCELLED"
  | "PROMPT_TIMEOUT"
  | "UPSTREAM_FAILED"
  | "UPSTREAM_BUSY"
  | "PROMPT_INTERRUPTED";

export type PromptErrorCode = RejectionCode | TerminalCode;

/**
 * Codes of `error` events about the connection rather than a prompt; both are followed by a
 * DISCONNECT (`TOKEN_EXPIRED` only with `DISCONNECT_ON_TOKEN_EXPIRY=1`).
 */
export type ConnectionErrorCode = "SESSION_REPLACED" | "TOKEN_EXPIRED";

/** `send-prompt` payload; other fields go to an `http` upstream as `data`. */
export interface SendPromptPayload {
  prompt: string;
  /** 1-128 characters; a bad one is refused with `INVALID_PROMPT`. Absent: the gateway makes one. */
  requestId?: string;
  /** `true`: `prompt-chunk` events come before the terminal event. */
  stream?: boolean;
  [field: string]: unknown;
}

export interface PromptRejection {
  code: RejectionCode;
  message: string;
  /** With `RATE_LIMITED`: when one token is back. */
  retryAfterMs?: number;
}

export type SendPromptAck =
  | { status: "accepted"; requestId: string }
  | { status: "rejected"; requestId?: string; error: PromptRejection }
  /** This user already sent that `requestId`: nothing is processed twice, no other event follows. */
  | { status: "duplicate"; requestId: string };

export interface CancelPromptPayload {
  requestId: string;
}

export interface CancelPromptAck {
  status: "cancelled" | "unknown";
  requestId: string;
}

export interface HistoryQuery {
  /** 1-100, default 20. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  before?: string;
}

export interface HistoryItem {
  requestId: string;
  prompt: string;
  response?: string;
  status: "running" | "completed" | "failed" | "cancelled";
  code?: PromptErrorCode;
  /** Epoch milliseconds. */
  createdAt: number;
  completedAt?: number;
  /** The stored prompt or response was cut (`HISTORY_MAX_RESPONSE_CHARS`, 262144 for a prompt). */
  truncated?: true;
}

/** `INVALID_REQUEST`: a bad `limit`, cursor or payload; `HISTORY_UNAVAILABLE`: storage failed, retry. */
export interface HistoryError {
  error: { code: "INVALID_REQUEST" | "HISTORY_UNAVAILABLE"; message: string };
}

export type HistoryAck =
  | { items: HistoryItem[]; /** Present only when older items exist. */ next?: string }
  | HistoryError;

export type ClearHistoryAck = { status: "cleared"; deleted: number } | HistoryError;

export interface PromptChunk {
  requestId: string;
  /** Counts from 0 without gaps; the deltas joined equal the final `response`. */
  index: number;
  delta: string;
}

export interface PromptResponse {
  requestId: string;
  prompt: string;
  /** The whole text. */
  response: string;
}

export interface GatewayError {
  /** A prompt code, a connection code, or another code of the gateway (e.g. `PROCESSING_FAILED`). */
  code: PromptErrorCode | ConnectionErrorCode | (string & {});
  message: string;
  /** Present when the error is about one prompt. */
  requestId?: string;
  /** With `RATE_LIMITED` and `UPSTREAM_BUSY`, when known. */
  retryAfterMs?: number;
}

/** Sent right after every CONNECT when connection state recovery is on. */
export interface SessionInfo {
  userId: string;
  /** Equals `socket.id`; after a recovery, the id the lost connection had. */
  socketId: string;
  /** The CONNECT picked a lost connection up again (equals `socket.recovered`). */
  recovered: boolean;
}

/**
 * With connection state recovery on (`MAX_DISCONNECTION_MS`), the last argument of every
 * server-to-client event: socket.io-client keeps the last one and sends it back, with the
 * session's `pid`, when it reconnects. Handlers may ignore it.
 */
export type RecoveryOffset = string;

/** The CONNECT answer while recovery is on (`sid` is `socket.id`). */
export interface RecoverableConnect {
  sid: string;
  pid: string;
}

/** What socket.io-client adds to the auth payload by itself when it reconnects. */
export interface RecoveryClaim {
  pid: string;
  offset?: RecoveryOffset;
}

export interface ServerToClientEvents {
  "prompt-chunk": (chunk: PromptChunk, offset?: RecoveryOffset) => void;
  "prompt-response": (response: PromptResponse, offset?: RecoveryOffset) => void;
  error: (error: GatewayError, offset?: RecoveryOffset) => void;
  session: (session: SessionInfo, offset?: RecoveryOffset) => void;
}

export interface ClientToServerEvents {
  "send-prompt": (payload: SendPromptPayload, ack?: (ack: SendPromptAck) => void) => void;
  "cancel-prompt": (payload: CancelPromptPayload, ack?: (ack: CancelPromptAck) => void) => void;
  "get-history": (query: HistoryQuery, ack: (page: HistoryAck) => void) => void;
  "clear-history": (ack: (result: ClearHistoryAck) => void) => void;
}

/** Event names the push API refuses (`POST /api/v1/emit` answers 400 `RESERVED_EVENT`). */
export type ReservedEventName =
  | "connect"
  | "connect_error"
  | "disconnect"
  | "disconnecting"
  | "newListener"
  | "removeListener"
  | "error"
  | "session"
  | "prompt-chunk"
  | "prompt-response";

/**
 * The events the app's backend pushes (`POST /api/v1/emit { event, data }`) are the app's own:
 * name each one's `data` and merge them with the gateway's events,
 *   `Socket<ServerToClientEvents & PushedEvents<{ "job-finished": { jobId: string } }>, ...>`.
 * Reserved names are left out (the API refuses them).
 */
export type PushedEvents<M extends Record<string, unknown>> = {
  [K in Exclude<keyof M & string, ReservedEventName>]: (data: M[K]) => void;
};
