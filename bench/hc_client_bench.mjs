// Latency of signed zome calls from the REAL @holochain/client against a zomehost conductor.
//
//   ADMIN_PORT=<port> HAPP_PATH=<bench .happ> CALLS=2000 WARMUP=200 node bench/hc_client_bench.mjs
//
// Installs the app, authorizes signing credentials, then times CALLS sequential
// callZome round trips (echo_1k with a 1 KiB payload, as the Python client does).
// Prints one JSON line: {"ok": true, "latencies_ms": [...]} (or {"ok": false, "error"}).

import path from "node:path";
import { AdminWebsocket, AppWebsocket } from "@holochain/client";

const ADMIN_PORT = process.env.ADMIN_PORT;
const HAPP_PATH = process.env.HAPP_PATH;
const APP_ID = process.env.APP_ID ?? "bench-js";
const ROLE = process.env.ROLE ?? "main";
const ZOME = process.env.ZOME ?? "echo";
const FN = process.env.FN ?? "echo_1k";
const CALLS = Number(process.env.CALLS ?? 2000);
const WARMUP = Number(process.env.WARMUP ?? 200);
const ORIGIN = "zomehost-bench";

async function main() {
  const admin = await AdminWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${ADMIN_PORT}`),
    wsClientOptions: { origin: ORIGIN },
  });
  const agentKey = await admin.generateAgentPubKey();
  const installed = await admin.installApp({
    source: { type: "path", value: path.resolve(HAPP_PATH) },
    installed_app_id: APP_ID,
    agent_key: agentKey,
  });
  await admin.enableApp({ installed_app_id: APP_ID });
  const cellId = installed.cell_info[ROLE].find((c) => c.type === "provisioned").value.cell_id;
  const { port } = await admin.attachAppInterface({ port: 0, allowed_origins: ORIGIN });
  const issued = await admin.issueAppAuthenticationToken({ installed_app_id: APP_ID });
  await admin.authorizeSigningCredentials(cellId);
  const app = await AppWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${port}`),
    token: issued.token,
    wsClientOptions: { origin: ORIGIN },
  });
  const payload = new Uint8Array(1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  const call = () =>
    app.callZome({ cell_id: cellId, zome_name: ZOME, fn_name: FN, payload }, 30000);
  const first = await call();
  if (!(first instanceof Uint8Array) || first.length !== payload.length) {
    throw new Error(`unexpected result: ${first}`);
  }
  for (let i = 0; i < WARMUP; i++) await call();
  const latencies = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = process.hrtime.bigint();
    await call();
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  process.stdout.write(JSON.stringify({ ok: true, latencies_ms: latencies }) + "\n");
  await app.client.close();
  await admin.client.close();
  process.exit(0);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: `${err?.name}: ${err?.message}` }) + "\n");
  process.exit(1);
});
