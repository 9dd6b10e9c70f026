// Error paths as the REAL @holochain/client 0.21 sees them against a zomehost conductor.
//
//   ADMIN_PORT=<admin port> HAPP_PATH=<path to notes .happ> node tests/js/hc_client_errors.mjs
//
// Optional: APP_ID (default "notes-errors"), ORIGIN (default "zomehost-test").
//
// Every step expects a specific rejection (docs/conductor-api.md, "Errors"): the client turns
// `{type: "error", value: {type: kind, value: message}}` into a HolochainError whose `name` is
// `kind`. Prints one JSON line per step; exits 1 on the first step that does not behave.

import { createHash, createPrivateKey, sign as edSign } from "node:crypto";
import path from "node:path";
import { decode, encode } from "@msgpack/msgpack";
import {
  AdminWebsocket,
  AppWebsocket,
  getNonceExpiration,
  getSigningCredentials,
  randomNonce,
  signZomeCall,
} from "@holochain/client";
import { check, emit, expectReject, fail, finish, sameBytes, state } from "./common.mjs";

const ADMIN_PORT = process.env.ADMIN_PORT;
const HAPP_PATH = process.env.HAPP_PATH;
const APP_ID = process.env.APP_ID ?? "notes-errors";
const ORIGIN = process.env.ORIGIN ?? "zomehost-test";

const WIRE_ERROR_KINDS = new Set([
  "internal_error",
  "deserialization",
  "dna_read_error",
  "ribosome_error",
  "zome_call_authentication_failed",
  "zome_call_unauthorized",
  "countersigning_session_error",
]);

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

// Sign ZomeCallParams exactly as the client does (ed25519 over sha512(bytes)), but with
// fields we choose. `keyPair` is the libsodium pair from authorizeSigningCredentials.
function signParams(params, keyPair) {
  const bytes = encode(params);
  const digest = createHash("sha512").update(bytes).digest();
  const key = createPrivateKey({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      d: b64url(keyPair.privateKey.subarray(0, 32)),
      x: b64url(keyPair.publicKey),
    },
    format: "jwk",
  });
  return { bytes, signature: new Uint8Array(edSign(null, digest, key)) };
}

// A callZomeTransform whose behaviour each step selects through `mode`.
let mode = "normal";
let lastSigned;
const transform = {
  input: async (request) => {
    const creds = getSigningCredentials(request.cell_id);
    const params = async (overrides = {}) => ({
      cap_secret: creds.capSecret,
      cell_id: request.cell_id,
      zome_name: request.zome_name,
      fn_name: request.fn_name,
      provenance: creds.signingKey,
      payload: encode(request.payload),
      nonce: await randomNonce(),
      expires_at: getNonceExpiration(),
      ...overrides,
    });
    switch (mode) {
      case "normal": {
        lastSigned = await signZomeCall(request);
        return lastSigned;
      }
      case "replay":
        return lastSigned;
      case "bad_signature": {
        const signed = await signZomeCall(request);
        const signature = new Uint8Array(signed.signature);
        signature[0] ^= 0xff;
        return { bytes: signed.bytes, signature };
      }
      case "expired":
        return signParams(await params({ expires_at: (Date.now() - 60_000) * 1000 }), creds.keyPair);
      case "far_future":
        return signParams(
          await params({ expires_at: (Date.now() + 24 * 3600 * 1000) * 1000 }),
          creds.keyPair,
        );
      case "wrong_secret": {
        const secret = new Uint8Array(64);
        globalThis.crypto.getRandomValues(secret);
        return signParams(await params({ cap_secret: secret }), creds.keyPair);
      }
      case "no_secret":
        return signParams(await params({ cap_secret: null }), creds.keyPair);
      default:
        throw new Error(`unknown mode ${mode}`);
    }
  },
  output: (response) => decode(response),
};

async function main() {
  state.step = "env";
  check(ADMIN_PORT, "ADMIN_PORT is set");
  check(HAPP_PATH, "HAPP_PATH is set");
  const happPath = path.resolve(HAPP_PATH);
  const adminUrl = new URL(`ws://127.0.0.1:${ADMIN_PORT}`);
  emit({});

  state.step = "setup";
  const admin = await AdminWebsocket.connect({ url: adminUrl, wsClientOptions: { origin: ORIGIN } });
  state.sockets.push(admin);
  const agentKey = await admin.generateAgentPubKey();
  const installed = await admin.installApp({
    source: { type: "path", value: happPath },
    installed_app_id: APP_ID,
    agent_key: agentKey,
  });
  const cellId = installed.cell_info.notes.find((c) => c.type === "provisioned").value.cell_id;
  await admin.enableApp({ installed_app_id: APP_ID });
  const { port } = await admin.attachAppInterface({ port: 0, allowed_origins: ORIGIN });
  const appUrl = new URL(`ws://127.0.0.1:${port}`);
  await admin.authorizeSigningCredentials(cellId);
  const token = (await admin.issueAppAuthenticationToken({ installed_app_id: APP_ID })).token;
  const app = await AppWebsocket.connect({
    url: appUrl,
    token,
    wsClientOptions: { origin: ORIGIN },
    callZomeTransform: transform,
  });
  state.sockets.push(app);
  emit({ app_port: port });

  const call = (fn_name, payload = null) =>
    app.callZome({ role_name: "notes", zome_name: "notes", fn_name, payload });

  state.step = "admin_unknown_request";
  // Not a method of AdminWebsocket; _requester is how every method is built.
  await expectReject(() => admin._requester("no_such_request")({ x: 1 }), ["deserialization"]);

  state.step = "admin_install_duplicate_app_id";
  await expectReject(
    () =>
      admin.installApp({
        source: { type: "path", value: happPath },
        installed_app_id: APP_ID,
        agent_key: agentKey,
      }),
    [...WIRE_ERROR_KINDS],
  );

  state.step = "admin_install_missing_bundle";
  await expectReject(
    () =>
      admin.installApp({
        source: { type: "path", value: path.join(path.dirname(happPath), "does-not-exist.happ") },
        installed_app_id: `${APP_ID}-missing`,
        agent_key: agentKey,
      }),
    [...WIRE_ERROR_KINDS],
  );

  state.step = "admin_enable_unknown_app";
  await expectReject(
    () => admin.enableApp({ installed_app_id: "no-such-app" }),
    [...WIRE_ERROR_KINDS],
  );

  state.step = "app_connect_bad_token";
  const bogus = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(64)));
  // The conductor closes the socket right after a bad `authenticate` (no reply). Closing
  // within the client's 10 ms grace gives InvalidTokenError; a slower close shows up as
  // ClientClosedWithPendingRequests on the app_info that follows.
  const TOKEN_REJECTED = ["InvalidTokenError", "ClientClosedWithPendingRequests"];
  await expectReject(
    () => AppWebsocket.connect({ url: appUrl, token: bogus, wsClientOptions: { origin: ORIGIN } }),
    TOKEN_REJECTED,
  );

  state.step = "app_connect_reused_single_use_token";
  await expectReject(
    () => AppWebsocket.connect({ url: appUrl, token, wsClientOptions: { origin: ORIGIN } }),
    TOKEN_REJECTED,
  );

  state.step = "app_connect_disallowed_origin";
  const token2 = (await admin.issueAppAuthenticationToken({ installed_app_id: APP_ID })).token;
  await expectReject(
    () =>
      AppWebsocket.connect({
        url: appUrl,
        token: token2,
        wsClientOptions: { origin: "http://not-allowed.example" },
      }),
    ["ConnectionError"],
  );

  state.step = "admin_connect_without_origin";
  // Node's ws sends no Origin header unless asked; the conductor refuses the upgrade.
  await expectReject(() => AdminWebsocket.connect({ url: adminUrl }), ["ConnectionError"]);

  state.step = "call_zome_ok";
  mode = "normal";
  const hash = await call("create_note", { title: "err", body: "suite" });
  check(hash instanceof Uint8Array && hash.length === 39, "create_note returns a hash");
  emit({});

  state.step = "call_zome_unknown_fn";
  await expectReject(() => call("no_such_fn"), ["ribosome_error"]);

  state.step = "call_zome_bad_signature";
  mode = "bad_signature";
  await expectReject(() => call("list_notes"), ["zome_call_authentication_failed"]);

  state.step = "call_zome_replayed_nonce";
  mode = "normal";
  await call("list_notes");
  mode = "replay";
  await expectReject(() => call("list_notes"), ["zome_call_unauthorized"]);

  state.step = "call_zome_expired";
  mode = "expired";
  await expectReject(() => call("list_notes"), ["zome_call_unauthorized"]);

  state.step = "call_zome_expiry_too_far";
  mode = "far_future";
  await expectReject(() => call("list_notes"), ["zome_call_unauthorized"]);

  state.step = "call_zome_wrong_cap_secret";
  mode = "wrong_secret";
  await expectReject(() => call("list_notes"), ["zome_call_unauthorized"]);

  state.step = "call_zome_no_cap_secret";
  mode = "no_secret";
  await expectReject(() => call("list_notes"), ["zome_call_unauthorized"]);

  state.step = "list_capability_grants";
  mode = "normal";
  const grants = await admin.listCapabilityGrants({
    installed_app_id: APP_ID,
    include_revoked: false,
  });
  const signingKey = getSigningCredentials(cellId).signingKey;
  let grantHash;
  for (const [gCell, infos] of grants) {
    if (!(sameBytes(gCell[0], cellId[0]) && sameBytes(gCell[1], cellId[1]))) continue;
    for (const info of infos) {
      const assignees = info.cap_grant?.access?.assignees ?? [];
      if (
        info.cap_grant?.tag === "zome-call-signing-key" &&
        info.cap_grant.access.access_type === "assigned" &&
        assignees.some((a) => sameBytes(a, signingKey))
      ) {
        grantHash = info.action_hash;
      }
    }
  }
  check(grantHash instanceof Uint8Array && grantHash.length === 39, "the signing grant is listed");
  emit({});

  state.step = "revoke_zome_call_capability";
  await admin.revokeZomeCallCapability({ action_hash: grantHash, cell_id: cellId });
  emit({});

  state.step = "call_zome_after_revoke";
  mode = "normal";
  await expectReject(() => call("list_notes"), ["zome_call_unauthorized"]);

  state.step = "list_capability_grants_include_revoked";
  const all = await admin.listCapabilityGrants({ installed_app_id: APP_ID, include_revoked: true });
  const revoked = all
    .flatMap(([, infos]) => infos)
    .find((i) => i.action_hash instanceof Uint8Array && sameBytes(i.action_hash, grantHash));
  check(revoked && typeof revoked.revoked_at === "number", "revoked grant has revoked_at");
  emit({});

  state.step = "disable_app";
  await admin.disableApp({ installed_app_id: APP_ID });
  const apps = await admin.listApps({});
  const me = apps.find((a) => a.installed_app_id === APP_ID);
  check(me && me.status.type === "disabled", "disabled app lists as disabled");
  emit({ status: me.status });

  state.step = "uninstall_app";
  await admin.uninstallApp({ installed_app_id: APP_ID });
  const after = await admin.listApps({});
  check(!after.some((a) => a.installed_app_id === APP_ID), "uninstalled app is gone");
  emit({});

  await finish();
}

main().catch(fail);
