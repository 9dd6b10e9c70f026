// zomehost's launcher shim, served to every app UI at /.zomehost/launcher.js.
//
// The conductor's UI server injects window.__HC_LAUNCHER_ENV__ (app interface port, a
// single-use app token, the app id) and window.__ZOMEHOST__ (this page's session secret).
// This script defines window.__HC_ZOME_CALL_SIGNER__, which @holochain/client uses to sign
// zome calls in a launcher: the page encodes the call parameters exactly as the client
// would, and the conductor signs SHA-512 of those bytes as the app's agent, for this app's
// cells only (POST /.zomehost/sign-zome-call). See docs/web-ui.md.
import { encode } from "@msgpack/msgpack";

const NONCE_BYTES = 32;
const EXPIRY_MS = 5 * 60 * 1000; // as @holochain/client's getNonceExpiration

async function signZomeCall(request) {
  const env = window.__ZOMEHOST__;
  const params = {
    cap_secret: request.cap_secret ?? null,
    cell_id: request.cell_id,
    zome_name: request.zome_name,
    fn_name: request.fn_name,
    provenance: request.provenance,
    payload: encode(request.payload),
    nonce: crypto.getRandomValues(new Uint8Array(NONCE_BYTES)),
    expires_at: (Date.now() + EXPIRY_MS) * 1000,
  };
  const bytes = encode(params);
  const response = await fetch(env.signPath, {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", "X-Zomehost-Session": env.session },
    body: bytes,
    credentials: "omit",
  });
  if (!response.ok) {
    throw new Error(`zomehost refused to sign the call: ${(await response.text()).trim()}`);
  }
  const signature = new Uint8Array(await response.arrayBuffer());
  return { bytes, signature };
}

window.__HC_ZOME_CALL_SIGNER__ = { signZomeCall };
