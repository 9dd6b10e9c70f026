// The zomehost conductor dashboard (docs/web-ui.md). Plain browser JavaScript, no build:
// it reads the dashboard's own JSON API with the session secret the conductor injected.
"use strict";

const SESSION = window.__ZOMEHOST__.session;
let selected = null; // {dna, agent, role, app}
let oldest = 0;
let allow = [];

async function api(path, method = "GET") {
  const response = await fetch(`/api/${path}`, {
    method,
    headers: { "X-Zomehost-Session": SESSION },
    credentials: "omit",
  });
  if (!response.ok) throw new Error(`${path}: ${(await response.text()).trim()}`);
  return response.json();
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

const short = (text) => (text && text.length > 20 ? `${text.slice(0, 9)}…${text.slice(-4)}` : text);
const cellQuery = (c) => `dna=${encodeURIComponent(c.dna)}&agent=${encodeURIComponent(c.agent)}`;
const when = (micros) => new Date(micros / 1000).toLocaleString();

async function loadOverview() {
  const { apps, allow: allowed } = await api("overview");
  allow = allowed;
  document.getElementById("mode").textContent = allow.length ? `allows: ${allow.join(", ")}` : "read-only";
  const box = document.getElementById("apps");
  box.replaceChildren(
    ...(apps.length
      ? apps.map((app) =>
          h("div", { class: "app", "data-app": app.app_id },
            h("div", {}, h("strong", {}, app.app_id), " ",
              h("span", { class: app.status === "enabled" ? "badge" : "badge off" }, app.status),
              app.ui ? [" ", h("a", { href: app.ui, target: "_blank", rel: "noopener" }, "open UI")] : null,
              allow.includes("apps")
                ? [" ", h("button", { class: "secondary toggle", onclick: () => toggle(app) },
                    app.status === "enabled" ? "Disable" : "Enable")]
                : null),
            h("div", { class: "meta" }, "agent ", app.agent),
            app.cells.map((cell) =>
              h("button", {
                class: selected && selected.dna === cell.dna && selected.agent === cell.agent ? "cell selected" : "cell",
                "data-role": cell.role,
                onclick: () => select({ ...cell, app: app.app_id }),
              }, `${cell.role}: ${cell.length} records · dna ${short(cell.dna)}`)),
          ))
      : [h("p", { class: "empty" }, "no apps installed")]),
  );
}

async function toggle(app) {
  await api(`app?id=${encodeURIComponent(app.app_id)}&action=${app.status === "enabled" ? "disable" : "enable"}`, "POST");
  await loadOverview();
}

async function select(cell) {
  selected = cell;
  oldest = 0;
  document.getElementById("chain-cell").textContent = `${cell.app} / ${cell.role} · ${cell.agent}`;
  document.getElementById("verify").disabled = false;
  document.getElementById("verify-result").textContent = "";
  document.querySelector("#records tbody").replaceChildren();
  await Promise.all([loadChain(), loadCaps(), loadOverview()]);
}

function contentText(r) {
  if (r.deletes) return `deletes ${short(r.deletes)}`;
  const body = r.content === null || r.content === undefined ? "" : JSON.stringify(r.content);
  const text = `${r.entry_type ?? ""} ${body}`.trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

async function loadChain() {
  const { records } = await api(`chain?${cellQuery(selected)}&before=${oldest}`);
  const body = document.querySelector("#records tbody");
  for (const r of records) {
    body.append(h("tr", { class: "record", "data-seq": r.seq },
      h("td", {}, r.seq), h("td", {}, r.type), h("td", { class: "content" }, contentText(r)),
      h("td", { title: r.hash }, short(r.hash)), h("td", {}, when(r.timestamp))));
  }
  oldest = records.length ? records[records.length - 1].seq : 0;
  document.getElementById("older").disabled = oldest === 0;
}

async function loadCaps() {
  const { grants, claims } = await api(`caps?${cellQuery(selected)}`);
  const fns = (f) => (f === "All" || f === null ? "all functions" : JSON.stringify(f));
  document.getElementById("grants").replaceChildren(
    ...(grants.length
      ? grants.map((g) => h("li", { class: "grant" },
          h("strong", {}, g.tag), " ", h("span", { class: g.revoked ? "badge revoked" : "badge" }, g.revoked ? "revoked" : "live"),
          h("div", { class: "meta" }, `${JSON.stringify(g.access)} · ${fns(g.functions)}`)))
      : [h("li", { class: "empty" }, "none")]),
  );
  document.getElementById("claims").replaceChildren(
    ...(claims.length
      ? claims.map((c) => h("li", { class: "claim" }, h("strong", {}, c.tag), h("div", { class: "meta" }, `grantor ${c.grantor}`)))
      : [h("li", { class: "empty" }, "none")]),
  );
}

async function verify() {
  const out = document.getElementById("verify-result");
  out.textContent = "verifying…";
  const result = await api(`verify?${cellQuery(selected)}`, "POST");
  out.textContent = result.ok ? `intact: ${result.records} records, hashes, links and signatures verified` : `BROKEN: ${result.error}`;
  out.className = result.ok ? "ok" : "bad";
}

async function followFeed() {
  let after = 0;
  for (;;) {
    try {
      const events = await api(`events?after=${after}`);
      const feed = document.getElementById("feed");
      for (const e of events) {
        after = Math.max(after, e.seq);
        feed.querySelector(".empty")?.remove();
        const where = `${short(e.cell.dna)} / ${short(e.cell.agent)}`;
        feed.prepend(e.kind === "call"
          ? h("li", { class: "call" }, h("span", { class: "kind" }, "call "), `${e.zome}.${e.fn} → ${e.outcome}`,
              h("div", { class: "meta" }, `${new Date(e.at * 1000).toLocaleTimeString()} · cell ${where} · by ${short(e.provenance)}`))
          : h("li", { class: "signal" }, h("span", { class: "kind" }, "signal "), `${e.zome}: ${e.payload}`,
              h("div", { class: "meta" }, `${new Date(e.at * 1000).toLocaleTimeString()} · cell ${where}`)));
      }
      if (events.length && selected) {
        oldest = 0;
        document.querySelector("#records tbody").replaceChildren();
        await Promise.all([loadOverview(), loadCaps(), loadChain()]);
      }
    } catch (err) {
      console.warn(err);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

document.getElementById("verify").addEventListener("click", () => verify().catch(console.error));
document.getElementById("older").addEventListener("click", () => loadChain().catch(console.error));
loadOverview().then(() => { document.body.dataset.ready = "yes"; }).catch(console.error);
followFeed();
