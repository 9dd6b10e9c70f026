// ticker_as: the AssemblyScript twin of zomes/ticker (scheduled functions for the tests,
// tests/conductor/test_schedule.py): the same functions, inputs, outputs and entries. Each
// scheduled function writes an entry of its own name when it runs.

import {
  ChainQueryFilter,
  Decoder,
  Encoder,
  Outcome,
  Schedule,
  create,
  emitSignal,
  fail,
  ok,
  query,
  schedule,
  sysTime,
  zomeFn,
} from "@zomehost/sdk";

export { __zh_alloc, __zh_free } from "@zomehost/sdk";

function ran(name: string, last: Schedule | null): void {
  const entry = new Encoder(64);
  if (last === null) entry.writeNil();
  else last.encode(entry);
  create(name, entry.finish());
  const signal = new Encoder(32);
  signal.writeString(name);
  emitSignal(signal.finish());
}

/** Every second, for ever. */
@scheduled
export function tick(last: Schedule | null): Schedule | null {
  ran("tick", last);
  return Schedule.persisted("* * * * * *");
}

/** Once. */
@scheduled
export function once(last: Schedule | null): Schedule | null {
  ran("once", last);
  return null;
}

/** First asks to run again in a second (ephemeral), then writes and stops. */
@scheduled
export function later(last: Schedule | null): Schedule | null {
  if (last === null) return Schedule.ephemeral(1);
  ran("later", last);
  return null;
}

/** Asks to run again at once, every time: the host's minimum interval holds it back. */
@scheduled
export function rapid(last: Schedule | null): Schedule | null {
  ran("rapid", last);
  return Schedule.ephemeral(0);
}

/** Persisted; every run after the first spins until the call's deadline. */
@scheduled
export function spin(last: Schedule | null): Schedule | null {
  if (last !== null) {
    while (true) sysTime();
  }
  ran("spin", last);
  return Schedule.persisted("* * * * * *");
}

/** Aborts on its first run. */
@scheduled
export function boom(last: Schedule | null): Schedule | null {
  abort("boom went the scheduled function");
  return null;
}

/** Writes, then returns a schedule that is not a cron string. */
@scheduled
export function bad_cron(last: Schedule | null): Schedule | null {
  ran("bad_cron", last);
  return Schedule.persisted("every tuesday");
}

/** Persisted, once a year: a schedule that stays without running. */
@scheduled
export function yearly(last: Schedule | null): Schedule | null {
  return Schedule.persisted("0 0 1 1 *");
}

/** Ephemeral, in an hour: gone when the conductor restarts. */
@scheduled
export function in_an_hour(last: Schedule | null): Schedule | null {
  return Schedule.ephemeral(3600);
}

/** Schedule `name` (a function of this zome). */
export function start(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = schedule(input.readString());
    if (r.isErr) return r.propagate();
    return ok();
  }, "start");
}

/** Schedule `name`, then fail: the schedule goes with the call. */
export function start_then_fail(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = schedule(input.readString());
    if (r.isErr) return r.propagate();
    return fail("deliberate failure after schedule");
  }, "start_then_fail");
}

/** How many entries of type `name` the chain holds (the runs of that scheduled function). */
export function runs(ptr: usize, len: usize): u64 {
  return zomeFn(ptr, len, (input: Decoder, out: Encoder): Outcome => {
    const r = query(new ChainQueryFilter().entryType(input.readString()));
    if (r.isErr) return r.propagate();
    out.writeU32(<u32>r.value.length);
    return ok();
  }, "runs");
}
