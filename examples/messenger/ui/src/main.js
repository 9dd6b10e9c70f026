// The messenger's UI (examples/messenger): private messages, pings and nudges, live.
// Zome functions: see examples/messenger/zomes/messenger/src/lib.rs. Nothing is stored:
// the conversation lives in this page only.
import { boot, connect, h, hashFromText, hashText, outcomeText, shortKey, showAgent, status } from "../../../../web/kit/kit.js";

let call;

function peer() {
  const text = document.getElementById("peer").value.trim();
  if (!text) throw new Error("enter the agent key of who to talk to");
  return hashFromText(text);
}

function bubble(kind, text, meta) {
  document.getElementById("no-messages")?.remove();
  const el = h("div", { class: `bubble ${kind}` }, h("div", { class: "text" }, text), h("div", { class: "meta" }, meta));
  const conv = document.getElementById("conversation");
  conv.append(el);
  conv.scrollTop = conv.scrollHeight;
}

function onSignal(signal) {
  if (signal.type !== "app") return;
  const s = signal.value.payload;
  const from = hashText(s.from);
  const input = document.getElementById("peer");
  if (!input.value.trim()) input.value = from;
  if (s.type === "message") {
    bubble("theirs", s.text, `from ${shortKey(from)}`);
    status(`message from ${shortKey(from)}`, "ok");
  } else if (s.type === "nudge") {
    bubble("nudge", `nudge: ${s.text}`, `from ${shortKey(from)}`);
    status(`nudge from ${shortKey(from)}`, "ok");
  }
}

function on(id, handler) {
  document.getElementById(id).addEventListener("click", () =>
    handler().catch((err) => status(`error: ${err?.message ?? err}`, "error")));
}

boot(async () => {
  const app = await connect("messenger");
  call = app.call;
  showAgent(app.agent);
  app.client.on("signal", onSignal);
  on("send", async () => {
    const input = document.getElementById("text");
    const text = input.value.trim();
    if (!text) return;
    const result = await call("send_message", { to: peer(), text });
    bubble("mine", text, "Ok" in result ? "delivered" : outcomeText(result));
    status(`send_message: ${outcomeText(result)}`, "Ok" in result ? "ok" : "error");
    input.value = "";
  });
  document.getElementById("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter") document.getElementById("send").click();
  });
  on("ping", async () => {
    const result = await call("ping_agent", peer());
    const text = "Ok" in result
      ? `${result.Ok.reply} in ${(result.Ok.round_trip_us / 1000).toFixed(1)} ms`
      : outcomeText(result);
    bubble("ping", `ping: ${text}`, "round trip");
    status(`ping: ${text}`, "Ok" in result ? "ok" : "error");
  });
  on("nudge", async () => {
    const text = document.getElementById("text").value.trim() || "👋";
    await call("nudge", { to: [peer()], text });
    bubble("mine nudge", `nudge: ${text}`, "sent (fire and forget)");
  });
  document.body.dataset.ready = "yes";
  status("connected", "ok");
});
