// @zomehost/sdk: write zomehost zomes in AssemblyScript. See README.md.
//
// In your zome's entry file, re-export the allocator (required by the ABI):
//
//     export { __zh_alloc, __zh_free } from "@zomehost/sdk";

export * from "./msgpack";
export * from "./value";
export * from "./result";
export * from "./types";
export * from "./hostfns";
export * from "./crypto";
export * from "./clone";
export * from "./callbacks";
export * from "./schedule";
export * from "./serial";
export {
  __zh_alloc,
  __zh_free,
  zhAbort,
  HostFn,
  hostFnName,
  HostReply,
  callHost,
  callHostBytes,
  ZomeHandler,
  zomeFn,
  beginEnvelope,
  endEnvelope,
} from "./abi";
export { abortTrap } from "./abort";
