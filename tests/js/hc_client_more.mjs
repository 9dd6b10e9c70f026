// The rest of the conductor API (issue 19) through the REAL @holochain/client 0.21: state and
// network views, clone cells, coordinator updates, agent-key revocation, deferred membrane
// proofs, and countersigning answered "not supported".
//
//   ADMIN_PORT=… HAPP_PATH=notes.happ DEFERRED_HAPP_PATH=notes-deferred.happ \
//   NOTES_WASM=notes.wasm PROBE_WASM=probe.wasm EXTRA_AGENT_INFO=<signed info text> \
//   EXTRA_AGENT_URL=<its address> node tests/js/hc_client_more.mjs
//
// The conductor must run with its network on (agent infos). One JSON line per step; exit 1
// on the first failure. Spec: docs/conductor-api.md.

import fs from "node:fs";
import path from "node:path";
import { AdminWebsocket, AppWebsocket, encodeHashToBase64 } from "@holochain/client";
import {
  ACTION_PREFIX,
  DNA_PREFIX,
  check,
  emit,
  expectReject,
  fail,
  finish,
  isHash,
  sameBytes,
  state,
} from "./common.mjs";

const env = process.env;
const ORIGIN = env.ORIGIN ?? "zomehost-test";
const APP_ID = env.APP_ID ?? "notes-more";
const DEFERRED_ID = `${APP_ID}-deferred`;

async function main() {
  state.step = "env";
  for (const k of [
    "ADMIN_PORT",
    "HAPP_PATH",
    "DEFERRED_HAPP_PATH",
    "NOTES_WASM",
    "PROBE_WASM",
    "EXTRA_AGENT_INFO",
    "EXTRA_AGENT_URL",
  ]) {
    check(env[k], `${k} is set`);
  }
  emit({});

  state.step = "setup";
  const admin = await AdminWebsocket.connect({
    url: new URL(`ws://127.0.0.1:${env.ADMIN_PORT}`),
    wsClientOptions: { origin: ORIGIN },
  });
  state.sockets.push(admin);
  const agent = await admin.generateAgentPubKey();
  const installed = await admin.installApp({
    source: { type: "path", value: path.resolve(env.HAPP_PATH) },
    installed_app_id: APP_ID,
    agent_key: agent,
  });
  const cellId = installed.cell_info.notes[0].value.cell_id;
  await admin.enableApp({ installed_app_id: APP_ID });
  const { port } = await admin.attachAppInterface({ port: 0, allowed_origins: ORIGIN });
  const connectApp = async (appId) => {
    const { token } = await admin.issueAppAuthenticationToken({
      installed_app_id: appId,
      single_use: false,
      expiry_seconds: 0,
    });
    const ws = await AppWebsocket.connect({
      url: new URL(`ws://127.0.0.1:${port}`),
      token,
      wsClientOptions: { origin: ORIGIN },
    });
    state.sockets.push(ws);
    return ws;
  };
  await admin.authorizeSigningCredentials(cellId);
  const app = await connectApp(APP_ID);
  const call = (role_name, fn_name, payload = null, zome_name = "notes") =>
    app.callZome({ role_name, zome_name, fn_name, payload });
  const noteHash = await call("notes", "create_note", { title: "original", body: "on the role" });
  check(isHash(noteHash, ACTION_PREFIX), "a note was written");
  emit({ cell_id: cellId });

  // -- state views ------------------------------------------------------------------------
  state.step = "dump_state";
  const dumped = await admin.dumpState({ cell_id: cellId });
  check(Array.isArray(dumped) && dumped.length === 2, "dumpState parses to [dump, summary]");
  const [dump, summary] = dumped;
  const types = dump.source_chain_dump.records.map((r) => r.action.type);
  check(
    ["Dna", "AgentValidationPkg", "Create"].every((t, i) => types[i] === t),
    `genesis first: ${types}`,
  );
  check(types.includes("InitZomesComplete"), "init ran before the note");
  check(Array.isArray(dump.grants) && dump.grants.length >= 1, "the signing grant is dumped");
  check(
    dump.source_chain_dump.records.every((r) => r.action.entry_type !== "CapGrant" || r.entry === null),
    "grant entries (secrets) are not dumped",
  );
  check(typeof summary === "string" && summary.includes("records"), "a summary line");
  emit({ types, summary });

  state.step = "dump_full_state";
  const full = await admin.dumpFullState({ cell_id: cellId });
  const records = full.source_chain_dump.records;
  check(
    records.some((r) => isHash(r.action_address, ACTION_PREFIX) && sameBytes(r.action_address, noteHash)),
    "the note's record is in the full dump",
  );
  check(Array.isArray(full.integration_dump.integrated), "an integration dump (empty: no DHT)");
  check(full.peer_dump.this_agent_info !== undefined, "a peer dump");
  emit({ records: records.length });

  state.step = "get_dna_definition";
  const def = await admin.getDnaDefinition(cellId);
  check(def.name === "notes", `dna name (${def.name})`);
  check(def.coordinator_zomes.length === 1 && def.coordinator_zomes[0][0] === "notes", "zomes");
  check(def.coordinator_zomes[0][1].wasm_hash.length === 39, "a wasm hash");
  check(def.modifiers.properties instanceof Uint8Array, "modifiers.properties are bytes");
  emit({ def });

  state.step = "storage_info";
  const storage = await admin.storageInfo();
  const blob = storage.blobs.find((b) => b.value.used_by.includes(APP_ID));
  check(blob && blob.type === "dna" && blob.value.authored_data_size > 0, "storage of the app");
  emit({ blob });

  // -- network views ----------------------------------------------------------------------
  state.step = "agent_info";
  // The peer service signs a started cell's info within its refresh interval (0.2 s here).
  let infos = [];
  for (let i = 0; i < 200; i++) {
    infos = await admin.agentInfo({ dna_hashes: [cellId[0]] });
    const ours = infos.map((s) => JSON.parse(JSON.parse(s).agentInfo));
    if (ours.some((info) => info.agent === encodeHashToBase64(agent))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ours = infos.map((s) => JSON.parse(JSON.parse(s).agentInfo));
  check(
    ours.some((i) => i.agent === encodeHashToBase64(agent)),
    "our own agent's signed info is known",
  );
  emit({ count: infos.length });

  state.step = "add_agent_info";
  await expectReject(() => admin.addAgentInfo({ agent_infos: ["not an agent info"] }), [
    "internal_error",
  ]);
  await admin.addAgentInfo({ agent_infos: [env.EXTRA_AGENT_INFO] });
  const all = (await admin.agentInfo({ dna_hashes: null })).map((s) =>
    JSON.parse(JSON.parse(s).agentInfo),
  );
  check(all.some((i) => i.url === env.EXTRA_AGENT_URL), "the added agent info is known");
  emit({ count: all.length });

  state.step = "peer_meta_info";
  const meta = await admin.peerMetaInfo({ url: env.EXTRA_AGENT_URL });
  const spaces = Object.values(meta);
  check(spaces.length === 1, "the peer at that URL is in one space");
  check(Object.values(spaces[0])[0].expires_at > 0, "meta expires with the agent info");
  emit({ meta });

  state.step = "dump_network_stats";
  const stats = await admin.dumpNetworkStats();
  check(stats.transport_stats.backend === "zomehost-noise", "backend");
  check(stats.transport_stats.peer_urls.length === 1, "our peer url");
  check(Array.isArray(stats.transport_stats.connections), "connections");
  emit({ stats });

  state.step = "dump_network_metrics";
  const metrics = await admin.dumpNetworkMetrics({ include_dht_summary: false });
  const mine = metrics[encodeHashToBase64(cellId[0])];
  check(mine && mine.local_agents.some((a) => sameBytes(a.agent, agent)), "our local agent");
  emit({ dnas: Object.keys(metrics).length });

  state.step = "app_agent_info";
  const appInfos = await app.agentInfo({ dna_hashes: null });
  check(appInfos.length >= 1, "the app sees its own agent");
  check(
    appInfos.every((s) => JSON.parse(JSON.parse(s).agentInfo).space === encodeHashToBase64(cellId[0])),
    "only the app's own DNAs",
  );
  emit({ count: appInfos.length });

  state.step = "app_peer_meta_info";
  const appMeta = await app.peerMetaInfo({ url: env.EXTRA_AGENT_URL });
  check(Object.keys(appMeta).length === 0, "the added peer is not in the app's DNAs");
  emit({});

  state.step = "app_dump_network_stats";
  const appStats = await app.dumpNetworkStats();
  check(appStats.transport_stats.backend === "zomehost-noise", "backend");
  emit({});

  state.step = "app_dump_network_metrics";
  const appMetrics = await app.dumpNetworkMetrics({ include_dht_summary: false });
  check(Object.keys(appMetrics).length === 1, "the app's one DNA");
  emit({});

  // -- clone cells ------------------------------------------------------------------------
  state.step = "create_clone_cell";
  const clone = await app.createCloneCell({
    role_name: "notes",
    modifiers: { network_seed: "room-1" },
    name: "room one",
  });
  check(clone.clone_id === "notes.0" && clone.enabled === true, "clone id and state");
  check(clone.name === "room one" && clone.dna_modifiers.network_seed === "room-1", "modifiers");
  check(sameBytes(clone.original_dna_hash, cellId[0]), "original dna hash");
  check(!sameBytes(clone.cell_id[0], cellId[0]), "a new dna hash");
  check(sameBytes(clone.cell_id[1], agent), "the same agent");
  await expectReject(
    () => app.createCloneCell({ role_name: "notes", modifiers: { network_seed: "room-1" } }),
    ["internal_error"],
  );
  emit({ clone });

  state.step = "call_clone";
  await admin.authorizeSigningCredentials(clone.cell_id);
  await call("notes.0", "create_note", { title: "in the room", body: "clone chain" });
  const roomNotes = await call("notes.0", "list_notes");
  const roleNotes = await call("notes", "list_notes");
  check(roomNotes.length === 1 && roomNotes[0].title === "in the room", "the clone's own chain");
  check(roleNotes.length === 1 && roleNotes[0].title === "original", "the role's chain apart");
  const byCell = await app.callZome({
    cell_id: clone.cell_id,
    zome_name: "notes",
    fn_name: "list_notes",
    payload: null,
  });
  check(byCell.length === 1, "callable by cell id too");
  const listed = (await app.appInfo()).cell_info.notes;
  check(listed.some((c) => c.type === "cloned" && c.value.clone_id === "notes.0"), "in appInfo");
  emit({});

  state.step = "disable_clone_cell";
  await app.disableCloneCell({ clone_cell_id: { type: "clone_id", value: "notes.0" } });
  const disabledInfo = (await app.appInfo()).cell_info.notes.find((c) => c.type === "cloned");
  check(disabledInfo.value.enabled === false, "listed as disabled");
  await expectReject(
    () => app.callZome({ cell_id: clone.cell_id, zome_name: "notes", fn_name: "list_notes" }),
    ["internal_error"],
  );
  await expectReject(
    () =>
      admin.deleteCloneCell({
        app_id: APP_ID,
        clone_cell_id: { type: "clone_id", value: "notes.9" },
      }),
    ["internal_error"],
  );
  emit({});

  state.step = "enable_clone_cell";
  const reenabled = await app.enableCloneCell({
    clone_cell_id: { type: "dna_hash", value: clone.cell_id[0] },
  });
  check(reenabled.enabled === true && reenabled.clone_id === "notes.0", "enabled again");
  check((await call("notes.0", "list_notes")).length === 1, "its data survived disabling");
  emit({});

  state.step = "delete_clone_cell";
  await expectReject(
    () =>
      admin.deleteCloneCell({
        app_id: APP_ID,
        clone_cell_id: { type: "clone_id", value: "notes.0" },
      }),
    ["internal_error"],
    "disable it first",
  );
  await app.disableCloneCell({ clone_cell_id: { type: "clone_id", value: "notes.0" } });
  await admin.deleteCloneCell({
    app_id: APP_ID,
    clone_cell_id: { type: "clone_id", value: "notes.0" },
  });
  check(
    !(await app.appInfo()).cell_info.notes.some((c) => c.type === "cloned"),
    "gone from appInfo",
  );
  const again = await app.createCloneCell({
    role_name: "notes",
    modifiers: { network_seed: "room-1" },
  });
  check(again.clone_id === "notes.1", `clone ids are not reused (${again.clone_id})`);
  check(sameBytes(again.cell_id[0], clone.cell_id[0]), "the same modifiers: the same dna");
  await admin.authorizeSigningCredentials(again.cell_id);
  check((await call("notes.1", "list_notes")).length === 0, "the deleted chain's data is gone");
  emit({});

  // -- coordinator updates ----------------------------------------------------------------
  state.step = "update_coordinators";
  const swap = (wasmPath, file) =>
    admin.updateCoordinators({
      cell_id: cellId,
      source: {
        type: "bundle",
        value: {
          manifest: { zomes: [{ name: "notes", path: file }] },
          resources: { [file]: new Uint8Array(fs.readFileSync(wasmPath)) },
        },
      },
    });
  await swap(env.PROBE_WASM, "probe.wasm");
  check((await call("notes", "echo", "swapped", "notes")) === "swapped", "the new code runs");
  await expectReject(() => call("notes", "list_notes"), ["ribosome_error"]);
  const sameDef = await admin.getDnaDefinition(cellId);
  check(
    !sameBytes(sameDef.coordinator_zomes[0][1].wasm_hash, def.coordinator_zomes[0][1].wasm_hash),
    "the definition shows the new wasm",
  );
  check(
    (await admin.listCellIds()).some((c) => sameBytes(c[0], cellId[0])),
    "the cell keeps its dna hash",
  );
  await swap(env.NOTES_WASM, "notes.wasm");
  const back = await call("notes", "list_notes");
  check(back.length === 1 && back[0].title === "original", "the chain was untouched");
  await expectReject(
    () =>
      admin.updateCoordinators({
        cell_id: cellId,
        source: {
          type: "bundle",
          value: {
            manifest: { zomes: [{ name: "notes", path: "x.wasm" }] },
            resources: { "x.wasm": new Uint8Array([0, 97, 115, 109, 9, 9]) },
          },
        },
      }),
    ["internal_error"],
  );
  check((await call("notes", "list_notes")).length === 1, "bad wasm changed nothing");
  emit({});

  // -- deferred membrane proofs -----------------------------------------------------------
  state.step = "install_deferred";
  const deferred = await admin.installApp({
    source: { type: "path", value: path.resolve(env.DEFERRED_HAPP_PATH) },
    installed_app_id: DEFERRED_ID,
    agent_key: await admin.generateAgentPubKey(),
  });
  check(deferred.status.type === "awaiting_memproofs", `status ${JSON.stringify(deferred.status)}`);
  check(deferred.manifest.allow_deferred_memproofs === true, "the manifest allows it");
  await expectReject(() => admin.enableApp({ installed_app_id: DEFERRED_ID }), [
    "internal_error",
  ]);
  emit({});

  state.step = "provide_memproofs";
  const dApp = await connectApp(DEFERRED_ID);
  await expectReject(() => dApp.enableApp(), ["internal_error"]);
  await dApp.provideMemproofs({ notes: new Uint8Array([1, 2, 3]) });
  const afterProofs = await dApp.appInfo();
  check(
    afterProofs.status.type === "disabled" &&
      afterProofs.status.value.type === "not_started_after_providing_memproofs",
    `status ${JSON.stringify(afterProofs.status)}`,
  );
  await expectReject(() => dApp.provideMemproofs({ notes: new Uint8Array([4]) }), [
    "internal_error",
  ]);
  emit({});

  state.step = "app_enable_app";
  await dApp.enableApp();
  const dInfo = await dApp.appInfo();
  check(dInfo.status.type === "enabled", "enabled from the app interface");
  const dCell = dInfo.cell_info.notes[0].value.cell_id;
  const dDump = await admin.dumpFullState({ cell_id: dCell });
  const pkg = dDump.source_chain_dump.records[1].action;
  check(pkg.type === "AgentValidationPkg" && sameBytes(pkg.membrane_proof, [1, 2, 3]), "proof");
  emit({});

  // -- countersigning: not supported ------------------------------------------------------
  state.step = "countersigning";
  for (const fn of [
    () => app.getCountersigningSessionState(cellId),
    () => app.abandonCountersigningSession(cellId),
    () => app.publishCountersigningSession(cellId),
  ]) {
    await expectReject(fn, ["internal_error"], "not supported");
  }
  emit({});

  // -- agent keys (last: the app writes nothing after) --------------------------------------
  state.step = "revoke_agent_key";
  const failed = await admin.revokeAgentKey({ agent_key: agent, app_id: APP_ID });
  check(Array.isArray(failed) && failed.length === 0, "revoked on every cell");
  await expectReject(
    () => call("notes", "create_note", { title: "late", body: "refused" }),
    ["internal_error"],
    "revoked",
  );
  check((await call("notes", "list_notes")).length === 1, "reads still work, nothing written");
  await expectReject(() => admin.revokeAgentKey({ agent_key: agent, app_id: APP_ID }), [
    "internal_error",
  ]);
  await expectReject(
    () => app.createCloneCell({ role_name: "notes", modifiers: { network_seed: "late" } }),
    ["internal_error"],
  );
  emit({});

  await finish();
}

main().catch(fail);
