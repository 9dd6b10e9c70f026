// Helpers shared by the JS conductor-API scripts: one JSON line per step, exit 1 on failure.

import { HolochainError, encodeHashToBase64 } from "@holochain/client";

export const state = { step: "setup", sockets: [] };

// JSON that shows byte arrays as HoloHash base64 (39 bytes) or hex.
export function jsonable(value) {
  return JSON.parse(
    JSON.stringify(value, function (k, v) {
      const raw = this[k];
      if (raw instanceof Uint8Array) {
        return raw.length === 39
          ? encodeHashToBase64(raw)
          : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("hex");
      }
      if (typeof v === "bigint") return v.toString();
      return v;
    }),
  );
}

export function emit(obj) {
  process.stdout.write(JSON.stringify(jsonable({ step: state.step, ok: true, ...obj })) + "\n");
}

export async function fail(err) {
  const error =
    err instanceof Error ? `${err.name}: ${err.message}` : `non-error thrown: ${String(err)}`;
  process.stdout.write(JSON.stringify({ step: state.step, ok: false, error }) + "\n");
  if (err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  for (const s of state.sockets) {
    try {
      s.client.socket.terminate?.();
    } catch {
      /* ignore */
    }
  }
  process.exit(1);
}

// The last step of every script: close every socket it opened (one the conductor already
// closed is fine), report "close" and exit 0.
export async function finish() {
  state.step = "close";
  for (const s of state.sockets) {
    try {
      await s.client.close();
    } catch {
      /* the conductor may already have closed it */
    }
  }
  emit({});
  process.exit(0);
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

export function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

export function isHash(h, prefix) {
  return (
    h instanceof Uint8Array &&
    h.length === 39 &&
    (prefix === undefined || (h[0] === prefix[0] && h[1] === prefix[1] && h[2] === prefix[2]))
  );
}

export function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export const AGENT_PREFIX = [0x84, 0x20, 0x24];
export const DNA_PREFIX = [0x84, 0x2d, 0x24];
export const ACTION_PREFIX = [0x84, 0x29, 0x24];

// Run `fn`, require it to reject; if `kinds` is given the rejection must be a HolochainError
// whose name is one of them (and mention `messagePart`). Emits and returns the error.
export async function expectReject(fn, kinds, messagePart) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    if (kinds) {
      check(
        e instanceof HolochainError && kinds.includes(e.name),
        `expected HolochainError ${kinds.join("|")}, got ${e?.name}: ${e?.message}`,
      );
    }
    if (messagePart) {
      check(String(e.message).includes(messagePart), `message mentions ${messagePart}: ${e.message}`);
    }
    emit({ error_name: e.name, error_message: String(e.message ?? "").slice(0, 300) });
    return e;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(jsonable(result))?.slice(0, 200)}`);
}
