// Shared helpers of the example UIs: connect as the Launcher env says, show the agent key,
// small DOM and hash helpers. Bundled into each page by esbuild (scripts/build-ui).
import { AppWebsocket, encodeHashToBase64, decodeHashFromBase64 } from "@holochain/client";

export { encodeHashToBase64 as hashText, decodeHashFromBase64 as hashFromText };

/** Connect to this app's interface with the token the conductor injected into the page. */
export async function connect(roleName) {
  const client = await AppWebsocket.connect({ defaultTimeout: 60000 });
  const call = (fn_name, payload = null) =>
    client.callZome({ role_name: roleName, zome_name: zomeOf(roleName), fn_name, payload });
  const agent = encodeHashToBase64(client.myPubKey);
  return { client, call, agent };
}

const ZOMES = { blog: "blog", messenger: "messenger" };
function zomeOf(role) {
  return ZOMES[role] ?? role;
}

/** Build an element: h("li", {class: "post"}, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replace the children of #id. */
export function fill(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat());
}

/** Short form of a key for labels; the full key stays in the title (hover) and data-key. */
export function shortKey(text) {
  return `${text.slice(0, 9)}…${text.slice(-4)}`;
}

/** A one-line status message at the bottom of the page (also kept in #log). */
export function status(text, kind = "info") {
  const line = h("li", { class: kind }, `${new Date().toLocaleTimeString()} ${text}`);
  document.getElementById("log")?.prepend(line);
  const bar = document.getElementById("status");
  if (bar) {
    bar.textContent = text;
    bar.className = kind;
  }
}

/** Show the page's agent key as visible text in #agent. */
export function showAgent(agent) {
  const el = document.getElementById("agent");
  el.textContent = agent;
  el.dataset.key = agent;
}

/** Run the page's start function and report a failure visibly. The agent key the
 * conductor injected is shown at once (the connection confirms it). */
export function boot(start) {
  const injected = window.__ZOMEHOST__?.agent;
  if (injected) showAgent(injected);
  start().catch((err) => {
    console.error(err);
    status(`error: ${err?.message ?? err}`, "error");
  });
}

/** A remote-call outcome as passed through by the zomes: {Ok: v} | {Unauthorized: …} | … */
export function outcomeText(result) {
  const [kind, value] = Object.entries(result)[0];
  if (kind === "Ok") return "Ok";
  if (kind === "Unauthorized") return `Unauthorized: ${value?.reason ?? ""}`;
  return `${kind}: ${typeof value === "string" ? value : JSON.stringify(value)}`;
}
