// The messenger's UI (examples/messenger): private messages, pings and nudges, live, and
// private rooms (clone cells: create_room, an invitation signal, join_room; room messages
// are send_to_each on the room's cell). Zome functions: see
// examples/messenger/zomes/messenger/src/lib.rs. Nothing is stored: the conversation and
// the list of rooms live in this page only.
import { boot, connect, h, hashFromText, hashText, outcomeText, shortKey, showAgent, status } from "../../../../web/kit/kit.js";

let call;
let client;
let me;
// network seed -> {name, cellId, members (agent keys as text), joined}
const rooms = new Map();

function roomOfCell(cellId) {
  const dna = hashText(cellId[0]);
  for (const room of rooms.values()) {
    if (room.cellId && hashText(room.cellId[0]) === dna) return room;
  }
  return null;
}

function roomCall(room, fn_name, payload) {
  return client.callZome({ cell_id: room.cellId, zome_name: "messenger", fn_name, payload });
}

function renderRooms() {
  const items = [...rooms.entries()].map(([seed, room]) => {
    if (!room.joined) {
      const join = h("button", { class: "secondary join", "data-seed": seed, onclick: () => joinRoom(seed).catch(
        (err) => status(`error: ${err?.message ?? err}`, "error")) }, "Join");
      return h("li", { class: "invitation", "data-room": room.name }, `invitation to ${room.name} `, join);
    }
    const send = h("button", { class: "secondary send-room", "data-seed": seed, onclick: () => sendToRoom(seed).catch(
      (err) => status(`error: ${err?.message ?? err}`, "error")) }, "Send to room");
    const who = room.members.map(shortKey).join(", ");
    return h("li", { class: "room", "data-room": room.name }, `${room.name} (with ${who}) `, send);
  });
  document.getElementById("rooms").replaceChildren(...items);
}

async function joinRoom(seed) {
  const room = rooms.get(seed);
  const cell = await call("join_room", { name: room.name, network_seed: seed });
  Object.assign(room, { cellId: cell.cell_id, joined: true });
  renderRooms();
  status(`joined room ${room.name}`, "ok");
}

async function sendToRoom(seed) {
  const room = rooms.get(seed);
  const input = document.getElementById("text");
  const text = input.value.trim();
  if (!text) return;
  const sent = await roomCall(room, "send_to_each", { to: room.members.map(hashFromText), text });
  const reached = sent.filter((s) => "Ok" in s.delivery).length;
  bubble("mine", `[${room.name}] ${text}`, `delivered to ${reached} of ${sent.length}`);
  input.value = "";
}

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
  if (s.type === "invitation") {
    const members = s.members.map(hashText).filter((k) => k !== me);
    rooms.set(s.network_seed, { name: s.name, cellId: null, members, joined: false });
    renderRooms();
    status(`invitation to room ${s.name} from ${shortKey(from)}`, "ok");
    return;
  }
  const room = roomOfCell(signal.value.cell_id);
  if (room && s.type === "message") {
    bubble("theirs room", `[${room.name}] ${s.text}`, `from ${shortKey(from)}`);
    status(`room ${room.name}: message from ${shortKey(from)}`, "ok");
  } else if (s.type === "message") {
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
  client = app.client;
  me = app.agent;
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
  on("make-room", async () => {
    const name = document.getElementById("room-name").value.trim() || "room";
    const member = peer();
    const room = await call("create_room", { name, members: [member] });
    rooms.set(room.network_seed, { name, cellId: room.cell_id, members: [hashText(member)], joined: true });
    renderRooms();
    const invited = room.invited.filter((i) => "Ok" in i.delivery).length;
    status(`room ${name}: ${invited} of ${room.invited.length} invited`, invited ? "ok" : "error");
  });
  document.body.dataset.ready = "yes";
  status("connected", "ok");
});
