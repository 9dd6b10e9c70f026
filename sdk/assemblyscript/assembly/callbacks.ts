// The callbacks of docs/abi.md ("Callbacks"): init, post_commit, recv_remote_signal.
// Export them under exactly these names:
//
//     export function init(ptr: usize, len: usize): u64 {
//       return initCallback(ptr, len, (): InitCallbackResult => InitCallbackResult.Pass());
//     }
//     export function post_commit(ptr: usize, len: usize): u64 {
//       return postCommitCallback(ptr, len, (records: Record[]): Outcome => ok());
//     }
//     export function recv_remote_signal(ptr: usize, len: usize): u64 {
//       return recvRemoteSignalCallback(ptr, len, (payload: Uint8Array): Outcome => ok());
//     }

import { Decoder } from "./msgpack";
import { beginEnvelope, endEnvelope } from "./abi";
import { ok, Outcome } from "./result";
import { InitCallbackResult, Record } from "./types";

/** The init handler: Pass, Fail(reason) (both Ok values), or an error. */
export type InitHandler = () => InitCallbackResult;
/** The post_commit handler: the records the call committed. It cannot write. */
export type PostCommitHandler = (records: Record[]) => Outcome;
/** The recv_remote_signal handler: the sender's payload (msgpack bytes of its signal). */
export type RecvRemoteSignalHandler = (payload: Uint8Array) => Outcome;

/** Runs an `init` callback (input nil); Ok value "Pass" or {"Fail": reason}. */
export function initCallback(ptr: usize, len: usize, handler: InitHandler): u64 {
  const input = new Decoder(ptr, len);
  const out = beginEnvelope();
  const mark = out.len;
  handler().encode(out);
  return endEnvelope(ptr, input, out, mark, ok(), "init");
}

/** Runs a `post_commit` callback (input [Record]); Ok value nil. */
export function postCommitCallback(ptr: usize, len: usize, handler: PostCommitHandler): u64 {
  const input = new Decoder(ptr, len);
  const records = Record.decodeArray(input);
  const out = beginEnvelope();
  const mark = out.len;
  const outcome = input.ok ? handler(records) : ok();
  return endEnvelope(ptr, input, out, mark, outcome, "post_commit");
}

/** Runs a `recv_remote_signal` callback (input bin); Ok value nil. */
export function recvRemoteSignalCallback(
  ptr: usize,
  len: usize,
  handler: RecvRemoteSignalHandler,
): u64 {
  const input = new Decoder(ptr, len);
  const payload = input.readBin();
  const out = beginEnvelope();
  const mark = out.len;
  const outcome = input.ok ? handler(payload) : ok();
  return endEnvelope(ptr, input, out, mark, outcome, "recv_remote_signal");
}
