// A zome that traps, as the REAL @holochain/client sees it: a Rust panic and an
// AssemblyScript abort reach the client as a HolochainError whose message carries the
// guest's own words and the zome and function names (docs/conductor-api.md, "Errors").
//
//   ADMIN_PORT=<admin port> HAPP_PATH=<.happ: role "rust" with the Rust probe as zome
//   "rusty", role "as" with the AssemblyScript probe as zome "scripted">
//   node tests/js/hc_client_panics.mjs
//
// Prints one JSON line per step; exits 1 on the first step that does not behave.

import path from "node:path";
import { AdminWebsocket, AppWebsocket } from "@holochain/client";
import { check, emit, expectReject, fail, finish, state } from "./common.mjs";

const ADMIN_PORT = process.env.ADMIN_PORT;
const HAPP_PATH = process.env.HAPP_PATH;
const APP_ID = process.env.APP_ID ?? "panics";
const ORIGIN = process.env.ORIGIN ?? "zomehost-test";
const GUESTS = [
  { role: "rust", zome: "rusty", words: "panicked at 'deliberate panic after create'" },
  { role: "as", zome: "scripted", words: "aborted: deliberate panic after create" },
];

async function main() {
  state.step = "setup";
  check(ADMIN_PORT && HAPP_PATH, "ADMIN_PORT and HAPP_PATH are set");
  const admin = await AdminWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${ADMIN_PORT}`),
    wsClientOptions: { origin: ORIGIN },
  });
  state.sockets.push(admin);
  const agentKey = await admin.generateAgentPubKey();
  await admin.installApp({
    source: { type: "path", value: path.resolve(HAPP_PATH) },
    installed_app_id: APP_ID,
    agent_key: agentKey,
  });
  await admin.enableApp({ installed_app_id: APP_ID });
  const { port } = await admin.attachAppInterface({ port: 0, allowed_origins: ORIGIN });
  const { token } = await admin.issueAppAuthenticationToken({ installed_app_id: APP_ID });
  const app = await AppWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${port}`),
    token,
    wsClientOptions: { origin: ORIGIN },
  });
  state.sockets.push(app);
  const info = await app.appInfo();
  for (const { role } of GUESTS) {
    await admin.authorizeSigningCredentials(info.cell_info[role][0].value.cell_id);
  }
  emit({});

  for (const { role, zome, words } of GUESTS) {
    state.step = `${role}_trap`;
    const err = await expectReject(
      () => app.callZome({ role_name: role, zome_name: zome, fn_name: "create_then_panic", payload: "x" }),
      ["ribosome_error"],
      words,
    );
    check(
      err.message.includes(`${zome}.create_then_panic`),
      `the message names the zome and function: ${err.message}`,
    );

    // The trap cost that call only: the same cell keeps serving its agent.
    state.step = `${role}_after_trap`;
    const echoed = await app.callZome({ role_name: role, zome_name: zome, fn_name: "echo", payload: "still here" });
    check(echoed === "still here", `echo after the trap: ${echoed}`);
    emit({ echoed });
  }

  await finish();
}

main().catch(fail);
