// End-to-end check that the REAL @holochain/client 0.21 works against a zomehost conductor.
//
//   ADMIN_PORT=<admin port> HAPP_PATH=<path to notes .happ> node tests/js/hc_client_flow.mjs
//
// Optional: APP_ID (default "notes"), ORIGIN (default "zomehost-test"),
// SIGNAL_TIMEOUT_MS (default 5000).
//
// Prints one JSON line per step: {"step": ..., "ok": true, ...}. On the first failure it
// prints {"step": ..., "ok": false, "error": ...} and exits with status 1.
// Spec: docs/conductor-api.md.

import path from "node:path";
import { AdminWebsocket, AppWebsocket } from "@holochain/client";
import {
  ACTION_PREFIX,
  AGENT_PREFIX,
  DNA_PREFIX,
  check,
  emit,
  fail,
  finish,
  isHash,
  sameBytes,
  state,
} from "./common.mjs";

const ADMIN_PORT = process.env.ADMIN_PORT;
const HAPP_PATH = process.env.HAPP_PATH;
const APP_ID = process.env.APP_ID ?? "notes";
const ORIGIN = process.env.ORIGIN ?? "zomehost-test";
const SIGNAL_TIMEOUT_MS = Number(process.env.SIGNAL_TIMEOUT_MS ?? 5000);

async function main() {
  state.step = "env";
  check(ADMIN_PORT, "ADMIN_PORT is set");
  check(HAPP_PATH, "HAPP_PATH is set");
  const happPath = path.resolve(HAPP_PATH);
  emit({ admin_port: Number(ADMIN_PORT), happ_path: happPath, origin: ORIGIN });

  state.step = "admin_connect";
  const admin = await AdminWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${ADMIN_PORT}`),
    wsClientOptions: { origin: ORIGIN },
  });
  state.sockets.push(admin);
  emit({});

  state.step = "generate_agent_pub_key";
  const agentKey = await admin.generateAgentPubKey();
  check(isHash(agentKey, AGENT_PREFIX), "agent key is a 39-byte AgentPubKey");
  emit({ agent_key: agentKey });

  state.step = "install_app";
  const installed = await admin.installApp({
    source: { type: "path", value: happPath },
    installed_app_id: APP_ID,
    agent_key: agentKey,
  });
  check(installed.installed_app_id === APP_ID, "installed_app_id echoes the request");
  check(sameBytes(installed.agent_pub_key, agentKey), "agent_pub_key is the given key");
  check(
    Array.isArray(installed.cell_info?.notes) && installed.cell_info.notes.length >= 1,
    "cell_info has role 'notes'",
  );
  const provisioned = installed.cell_info.notes.find((c) => c.type === "provisioned");
  check(provisioned, "role 'notes' has a provisioned cell");
  const cellId = provisioned.value.cell_id;
  check(
    Array.isArray(cellId) && isHash(cellId[0], DNA_PREFIX) && isHash(cellId[1], AGENT_PREFIX),
    "cell_id is [DnaHash, AgentPubKey]",
  );
  check(sameBytes(cellId[1], agentKey), "cell agent is the app agent");
  emit({ cell_id: cellId, status: installed.status });

  state.step = "enable_app";
  const enabled = await admin.enableApp({ installed_app_id: APP_ID });
  check(enabled?.status?.type === "enabled", `status is enabled (got ${JSON.stringify(enabled?.status)})`);
  emit({ status: enabled.status });

  state.step = "list_apps";
  const apps = await admin.listApps({});
  const listed = apps.find((a) => a.installed_app_id === APP_ID);
  check(listed && listed.status.type === "enabled", "list_apps shows the app as enabled");
  emit({ apps: apps.map((a) => a.installed_app_id) });

  state.step = "list_cell_ids";
  const cellIds = await admin.listCellIds();
  check(
    cellIds.some((c) => sameBytes(c[0], cellId[0]) && sameBytes(c[1], cellId[1])),
    "list_cell_ids contains the app's cell",
  );
  emit({ count: cellIds.length });

  state.step = "attach_app_interface";
  const { port: appPort } = await admin.attachAppInterface({
    port: 0,
    allowed_origins: ORIGIN,
  });
  check(Number.isInteger(appPort) && appPort > 0, "a real port is returned");
  emit({ port: appPort });

  state.step = "list_app_interfaces";
  const ifaces = await admin.listAppInterfaces();
  check(
    ifaces.some((i) => i.port === appPort && i.allowed_origins === ORIGIN),
    "the new interface is listed",
  );
  emit({ interfaces: ifaces });

  state.step = "issue_app_authentication_token";
  const issued = await admin.issueAppAuthenticationToken({ installed_app_id: APP_ID });
  check(issued.token && issued.token.length > 0, "a non-empty token");
  emit({ token_len: issued.token.length, expires_at: issued.expires_at ?? null });

  state.step = "authorize_signing_credentials";
  await admin.authorizeSigningCredentials(cellId);
  emit({});

  state.step = "app_connect";
  const app = await AppWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${appPort}`),
    token: issued.token,
    wsClientOptions: { origin: ORIGIN },
  });
  state.sockets.push(app);
  check(app.installedAppId === APP_ID, "AppWebsocket bound to the app");
  check(sameBytes(app.myPubKey, agentKey), "myPubKey is the app agent");
  emit({ installed_app_id: app.installedAppId });

  state.step = "app_info";
  const info = await app.appInfo();
  check(info.installed_app_id === APP_ID && info.status.type === "enabled", "app_info ok");
  emit({ roles: Object.keys(info.cell_info) });

  state.step = "listen_signal";
  let signalTimer;
  const signalPromise = new Promise((resolve, reject) => {
    const unsubscribe = app.on("signal", (signal) => {
      if (signal.type === "app" && signal.value?.payload?.type === "note_created") {
        clearTimeout(signalTimer);
        unsubscribe();
        resolve(signal);
      }
    });
    signalTimer = setTimeout(
      () => reject(new Error(`no note_created signal within ${SIGNAL_TIMEOUT_MS} ms`)),
      SIGNAL_TIMEOUT_MS,
    );
  });
  signalPromise.catch(() => {}); // awaited below; avoid an early unhandled rejection
  emit({});

  state.step = "call_zome_create_note";
  const noteHash = await app.callZome({
    role_name: "notes",
    zome_name: "notes",
    fn_name: "create_note",
    payload: { title: "hi", body: "there" },
  });
  check(isHash(noteHash, ACTION_PREFIX), "create_note returns an ActionHash");
  emit({ hash: noteHash });

  state.step = "signal";
  const signal = await signalPromise;
  check(signal.value.zome_name === "notes", "signal comes from zome 'notes'");
  check(
    sameBytes(signal.value.cell_id[0], cellId[0]) && sameBytes(signal.value.cell_id[1], cellId[1]),
    "signal cell_id is the app's cell",
  );
  emit({ payload: signal.value.payload });

  state.step = "call_zome_list_notes";
  const notes = await app.callZome({
    role_name: "notes",
    zome_name: "notes",
    fn_name: "list_notes",
    payload: null,
  });
  check(Array.isArray(notes), "list_notes returns an array");
  const mine = notes.find((n) => n.hash instanceof Uint8Array && sameBytes(n.hash, noteHash));
  check(mine, "the created note is listed under its hash");
  check(mine.title === "hi" && mine.body === "there", "title and body round-trip");
  emit({ notes });

  await finish();
}

main().catch(fail);
