#!/usr/bin/env node
// zomehost-asc: compile an AssemblyScript zome with the flags the zomehost ABI needs, then
// check the module's imports and exports against the ABI.
//
//   zomehost-asc <entry.ts> -o <out.wasm> [more asc options...]
//
// Flags put before yours (a later flag wins, so yours override these):
//   --runtime incremental          TLSF + incremental GC: long-lived instances free memory
//   --optimizeLevel 3 --shrinkLevel 2
//   --use abort=~lib/@zomehost/sdk/assembly/abi/zhAbort
//                                  no env.abort import: aborts log through zomehost.trace
//                                  and trap. A zome's asconfig.json may set its own
//                                  "use": ["abort=..."] (it takes precedence).
// asc also reads asconfig.json from the current directory, as usual. The @serializable
// transform (serializable.mjs) runs on every build: classes marked @serializable get
// msgpack encode/decode.
//
// After compiling: every import must be a function from module "zomehost" named in the
// ABI's host function table (the @external list of assembly/imports.ts), and the module
// must export memory, __zh_alloc and __zh_free. Exit status 1 on any error.

import { readFileSync, statSync, renameSync, mkdirSync, rmSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { serializableTransform } from "./serializable.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const sdkRoot = resolve(here, "..");

export const DEFAULT_FLAGS = [
  "--runtime", "incremental",
  "--optimizeLevel", "3",
  "--shrinkLevel", "2",
  "--use", "abort=~lib/@zomehost/sdk/assembly/abi/zhAbort",
];

/** The host function names of the ABI, read from assembly/imports.ts. */
export function hostFunctionNames() {
  const src = readFileSync(join(sdkRoot, "assembly", "imports.ts"), "utf8");
  const names = new Set();
  for (const m of src.matchAll(/@external\("zomehost",\s*"([a-z0-9_]+)"\)/g)) names.add(m[1]);
  return names;
}

const ENV_HINTS = {
  "env.abort": "compile with --use abort=~lib/@zomehost/sdk/assembly/abi/zhAbort",
  "env.trace": "AssemblyScript's global trace() imports it: use the SDK's trace()/info()",
  "env.seed": "Math.random imports it: use the SDK's randomBytes()",
  "env.Date.now": "Date.now imports it: use the SDK's sysTime()",
  "env.console.log": "console.* imports it: use the SDK's trace()/info()",
};

/** Problems with a compiled module's imports/exports (empty list: fine). */
export function checkModule(bytes) {
  const problems = [];
  const mod = new WebAssembly.Module(bytes);
  const allowed = hostFunctionNames();
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.module !== "zomehost") {
      const hint = ENV_HINTS[`${imp.module}.${imp.name}`];
      problems.push(
        `imports ${imp.module}.${imp.name} (${imp.kind}): only module "zomehost" is allowed` +
          (hint ? ` (${hint})` : ""),
      );
    } else if (imp.kind !== "function" || !allowed.has(imp.name)) {
      problems.push(`imports zomehost.${imp.name} (${imp.kind}): not a host function of the ABI`);
    }
  }
  const exports = new Map(WebAssembly.Module.exports(mod).map((e) => [e.name, e.kind]));
  for (const [name, kind] of [["memory", "memory"], ["__zh_alloc", "function"], ["__zh_free", "function"]]) {
    if (exports.get(name) !== kind) {
      problems.push(
        `does not export ${kind} ${name}` +
          (name.startsWith("__zh_") ? ` (add: export { __zh_alloc, __zh_free } from "@zomehost/sdk";)` : ""),
      );
    }
  }
  return problems;
}

function usage() {
  process.stderr.write("usage: zomehost-asc <entry.ts> -o <out.wasm> [asc options...]\n");
  process.exit(2);
}

async function main(argv) {
  const oi = argv.findIndex((a) => a === "-o" || a === "--outFile");
  if (argv.length < 3 || oi < 0 || oi + 1 >= argv.length) usage();
  const out = argv[oi + 1];
  const rest = argv.filter((_, i) => i !== oi && i !== oi + 1);
  // write to a temporary file, then rename: a failed or concurrent build never leaves a
  // half-written module behind
  mkdirSync(dirname(resolve(out)), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const { default: asc } = await import("assemblyscript/asc");
  const compiler = await import("assemblyscript");
  const t0 = performance.now();
  let diagnostics = "";
  const stderr = {
    write(chunk) {
      diagnostics += String(chunk);
      return process.stderr.write(chunk);
    },
  };
  const { error } = await asc.main([...DEFAULT_FLAGS, ...rest, "-o", tmp], {
    stdout: process.stdout,
    stderr,
    transforms: [serializableTransform(compiler)],
  });
  const ms = performance.now() - t0;
  if (error) {
    rmSync(tmp, { force: true });
    process.stderr.write(`zomehost-asc: compile failed: ${error.message}\n`);
    if (diagnostics.includes("zhAbort' not found")) {
      process.stderr.write(
        `zomehost-asc: the zome does not import @zomehost/sdk; every zome needs it for the ` +
          `allocator: export { __zh_alloc, __zh_free } from "@zomehost/sdk";\n`,
      );
    }
    return 1;
  }
  const problems = checkModule(readFileSync(tmp));
  if (problems.length) {
    rmSync(tmp, { force: true });
    for (const p of problems) process.stderr.write(`zomehost-asc: ${out}: ${p}\n`);
    return 1;
  }
  renameSync(tmp, out);
  process.stdout.write(`built ${out} (${statSync(out).size} bytes, ${(ms / 1000).toFixed(1)} s)\n`);
  return 0;
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`zomehost-asc: ${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    },
  );
}
