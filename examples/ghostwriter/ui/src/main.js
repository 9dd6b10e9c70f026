// The ghost-writer blog's UI (examples/ghostwriter): Alice's and Bob's page alike.
// Zome functions: see examples/ghostwriter/zomes/blog/src/lib.rs.
import { boot, connect, fill, h, hashFromText, hashText, outcomeText, shortKey, showAgent, status } from "../../../../web/kit/kit.js";

let call;

function keyLabel(raw) {
  const text = hashText(raw);
  return h("span", { title: text, "data-key": text }, shortKey(text));
}

async function refreshPosts() {
  const posts = await call("list_posts");
  fill(
    "posts",
    posts.length
      ? posts.map((p) =>
          h("li", { class: "post" },
            h("div", { class: "title" }, p.title),
            h("div", {}, p.body),
            h("div", { class: "meta" }, "by ", keyLabel(p.author), " · ", new Date(p.published_at / 1000).toLocaleString())))
      : [h("li", { class: "empty" }, "no posts yet")],
  );
}

async function refreshGrants() {
  const grants = await call("list_my_grants");
  fill(
    "grants",
    grants.length
      ? grants.map((g) =>
          h("li", { class: "grant", "data-revoked": g.revoked ? "yes" : "no" },
            h("div", { class: "title" }, g.memo || "(no memo)", " ",
              h("span", { class: g.revoked ? "badge revoked" : "badge" }, g.revoked ? "revoked" : "live")),
            h("div", { class: "meta" }, "ghost writers: ", g.ghost_writers.map(keyLabel)),
            g.revoked
              ? null
              : h("button", { class: "danger revoke", onclick: () => revoke(g.grant_hash) }, "Revoke")))
      : [h("li", { class: "empty" }, "no grants given")],
  );
}

async function refreshDrafts() {
  const drafts = await call("list_drafts");
  fill(
    "drafts",
    drafts.length
      ? drafts.map((d) =>
          h("li", { class: "draft" },
            h("div", { class: "title" }, d.title),
            h("div", {}, d.body),
            h("button", { class: "publish-as", onclick: () => openPublishDialog(d) }, "Publish as …")))
      : [h("li", { class: "empty" }, "no drafts")],
  );
}

async function openPublishDialog(draft) {
  const dialog = document.getElementById("publish-dialog");
  document.getElementById("publish-draft").textContent = `Draft: ${draft.title}`;
  const claims = await call("get_publish_post_permissions");
  fill(
    "claims",
    claims.length
      ? claims.map((c) =>
          h("li", { class: "claim" },
            h("button", { class: "publish-claim", "data-grantor": hashText(c.grantor), onclick: () => publishAs(draft, c) },
              "Publish as ", keyLabel(c.grantor)),
            h("div", { class: "meta" }, c.memo)))
      : [h("li", { class: "empty" }, "nobody has let you write for them yet")],
  );
  if (!dialog.open) dialog.showModal();
}

async function publishAs(draft, claim) {
  const result = await call("publish_as", { draft: draft.hash, claim: claim.claim_hash });
  const text = `publish_as ${hashText(claim.grantor)}: ${outcomeText(result)}`;
  status(text, "Ok" in result ? "ok" : "error");
  document.getElementById("publish-draft").textContent = text;
  document.getElementById("publish-draft").dataset.outcome = Object.keys(result)[0];
}

async function revoke(grantHash) {
  await call("revoke_publish_permission", grantHash);
  status("grant revoked", "ok");
  await refreshGrants();
}

function onSignal(signal) {
  if (signal.type !== "app") return;
  const s = signal.value.payload;
  const list = document.getElementById("signals");
  list.querySelector(".empty")?.remove();
  if (s.type === "post_published") {
    list.prepend(h("li", { class: "signal post_published" },
      h("div", { class: "title" }, `post_published: ${s.title}`),
      h("div", { class: "meta" }, "published by ", keyLabel(s.published_by))));
    status(`new post: ${s.title}`, "ok");
    refreshPosts();
  } else if (s.type === "permission_received") {
    list.prepend(h("li", { class: "signal permission_received" },
      h("div", { class: "title" }, `permission_received: ${s.memo}`),
      h("div", { class: "meta" }, "from ", keyLabel(s.grantor))));
    status("you may now publish for someone", "ok");
  }
}

function on(id, handler) {
  document.getElementById(id).addEventListener("click", () =>
    handler().catch((err) => status(`error: ${err?.message ?? err}`, "error")));
}

boot(async () => {
  const app = await connect("blog");
  call = app.call;
  showAgent(app.agent);
  app.client.on("signal", onSignal);
  on("grant", async () => {
    const to = document.getElementById("grant-to").value.trim();
    const memo = document.getElementById("grant-memo").value.trim();
    await call("grant_publish_permission", { ghost_writer: hashFromText(to), memo });
    document.getElementById("grant-to").value = "";
    document.getElementById("grant-memo").value = "";
    status(`granted ${shortKey(to)} permission to publish as you`, "ok");
    await refreshGrants();
  });
  on("save-draft", async () => {
    const title = document.getElementById("draft-title").value.trim();
    const body = document.getElementById("draft-body").value.trim();
    await call("save_draft", { title, body });
    document.getElementById("draft-title").value = "";
    document.getElementById("draft-body").value = "";
    status(`draft saved: ${title}`, "ok");
    await refreshDrafts();
  });
  on("publish-own", async () => {
    const title = document.getElementById("post-title").value.trim();
    const body = document.getElementById("post-body").value.trim();
    await call("publish_post", { title, body });
    await refreshPosts();
  });
  await Promise.all([refreshPosts(), refreshGrants(), refreshDrafts()]);
  document.body.dataset.ready = "yes";
  status("connected", "ok");
});
