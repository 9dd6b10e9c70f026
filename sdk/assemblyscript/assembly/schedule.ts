// Scheduled functions (docs/abi.md, "Scheduled functions"): a zome function the conductor
// runs later or periodically, as the cell's author, under the same limits as any call.
//
// A scheduled function gets what it returned last time (null on its first run) and returns
// when to run next: Schedule.persisted(cron) (survives restarts and failed runs),
// Schedule.ephemeral(secs) (once, after that long; gone on restart or failure), or null (no
// more runs). Export it with scheduledFn, plus its marker export, then start it from any
// call of the same zome with schedule():
//
//     export function tick(ptr: usize, len: usize): u64 {
//       return scheduledFn(ptr, len, (last: Schedule | null): Schedule | null => {
//         return Schedule.persisted("*/10 * * * * *"); // every 10 seconds
//       }, "tick");
//     }
//     export function __zh_schedulable_tick(): void {} // marks tick schedulable

import { Decoder, Encoder, MsgType } from "./msgpack";
import { beginEnvelope, callHost, endEnvelope, HostFn } from "./abi";
import { ok, Result, Unit, UNIT } from "./result";

/** When a scheduled function runs next (Holochain's Schedule, the same msgpack shape). */
export class Schedule {
  /** The cron string of a persisted schedule, or null for an ephemeral one. */
  cron: string | null = null;
  /** An ephemeral schedule's delay. */
  secs: u64 = 0;
  nanos: u32 = 0;

  /**
   * A cron string, UTC: five fields (minute first) or six/seven (seconds first, then an
   * optional year), e.g. "*\/5 * * * * *" (every five seconds).
   */
  static persisted(cron: string): Schedule {
    const s = new Schedule();
    s.cron = cron;
    return s;
  }

  /** Once, this long from now (not kept across a restart). */
  static ephemeral(secs: u64, nanos: u32 = 0): Schedule {
    const s = new Schedule();
    s.secs = secs;
    s.nanos = nanos;
    return s;
  }

  get isPersisted(): bool {
    return this.cron !== null;
  }

  /** {"Persisted": cron} or {"Ephemeral": {"secs", "nanos"}}. */
  encode(e: Encoder): void {
    e.writeMapHeader(1);
    const cron = this.cron;
    if (cron !== null) {
      e.writeString("Persisted");
      e.writeString(cron);
    } else {
      e.writeString("Ephemeral");
      e.writeMapHeader(2);
      e.writeString("secs");
      e.writeU64(this.secs);
      e.writeString("nanos");
      e.writeU32(this.nanos);
    }
  }

  /** A schedule, or nil as null. */
  static decodeNullable(d: Decoder): Schedule | null {
    if (d.tryReadNil()) return null;
    if (d.readMapHeader() != 1) {
      d.fail("a schedule is a map of one entry");
      return null;
    }
    const tag = d.readString();
    if (tag == "Persisted") return Schedule.persisted(d.readString());
    if (tag != "Ephemeral") {
      d.fail("unknown schedule " + tag);
      return null;
    }
    const s = Schedule.ephemeral(0);
    if (d.peekType() == MsgType.Array) {  // serde also reads a Duration as [secs, nanos]
      d.readArrayHeader();
      s.secs = d.readU64();
      s.nanos = d.readU32();
      return s;
    }
    const n = d.readMapHeader();
    for (let i: u32 = 0; i < n && d.ok; i++) {
      const k = d.readString();
      if (k == "secs") s.secs = d.readU64();
      else if (k == "nanos") s.nanos = d.readU32();
      else d.skip();
    }
    return s;
  }
}

/**
 * Schedules `fnName`, a function of this zome exported with scheduledFn and its
 * `__zh_schedulable_<fnName>` marker: it first runs soon after this call commits (with
 * null). A function already scheduled keeps its schedule. Errors: NotFound (no such
 * function), InvalidInput (not schedulable), LimitExceeded (the cell has 16).
 */
export function schedule(fnName: string): Result<Unit> {
  const e = new Encoder(<usize>fnName.length + 8);
  e.writeString(fnName);
  const reply = callHost(HostFn.schedule, e);
  if (!reply.isOk) return reply.errorAs<Unit>();
  reply.decoder.readNil();
  return reply.finish<Unit>(UNIT);
}

/** The body of a scheduled function: the schedule it returned last time, or null. */
export type ScheduledHandler = (last: Schedule | null) => Schedule | null;

/** Runs a scheduled function by the ABI (input and Ok value: a schedule or nil). */
export function scheduledFn(ptr: usize, len: usize, handler: ScheduledHandler, name: string = ""): u64 {
  const input = new Decoder(ptr, len);
  const last = Schedule.decodeNullable(input);
  const out = beginEnvelope();
  const mark = out.len;
  if (input.ok) {
    const next = handler(last);
    if (next === null) out.writeNil();
    else next.encode(out);
  }
  return endEnvelope(ptr, input, out, mark, ok(), name);
}
