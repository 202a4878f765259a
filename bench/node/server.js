// The Node peer of bench/bench_live.py and bench/bench_scale.py: a minimal socket.io 4
// server with the same /live wire shape (join → ack; pin → one "event" to the room) and
// /vote wire shape (watch → ack; vote → ack at once, and a "tally" {motion_id, result:
// {counts}} to the room at most 10 times a second, the last change always sent — the
// coalescing plugins/voting/live.py does).
// No database, no presence: the floor a Python server is compared against.
//   cd bench/node && npm install && PORT=5055 node server.js
const { Server } = require("socket.io");
const io = new Server(+process.env.PORT, { pingInterval: 25000, pingTimeout: 20000, transports: ["websocket"] });
const live = io.of("/live");
let seq = 0;
live.on("connection", (s) => {
  s.on("join", (d, ack) => { s.join("room"); ack && ack({ ok: true, you: {}, seq, events: [] }); });
  s.on("pin", (d, ack) => {
    seq += 1;
    live.to("room").emit("event", { seq, kind: "pinned", data: { text: d.text } });
    ack && ack({ ok: true, seq });
  });
});
const vote = io.of("/vote");
const counts = {};
const current = new Map(); // socket id → its ballot's option
let last = 0, pending = false;
function sendTally() {
  last = Date.now();
  pending = false;
  vote.to("room").emit("tally", { motion_id: 1, result: { counts: { ...counts } } });
}
function tallyChanged() {
  if (pending) return;
  const wait = last + 100 - Date.now();
  if (wait <= 0) sendTally();
  else { pending = true; setTimeout(sendTally, wait); }
}
vote.on("connection", (s) => {
  s.on("watch", (d, ack) => { s.join("room"); ack && ack({ ok: true, motion: { motion_id: d.motion_id } }); });
  s.on("vote", (d, ack) => {
    const choice = d && d.ballot && d.ballot.choice;
    const old = current.get(s.id);
    if (old !== undefined) counts[old] -= 1;
    counts[choice] = (counts[choice] || 0) + 1;
    current.set(s.id, choice);
    ack && ack({ ok: true, motion_id: d.motion_id, first: old === undefined, changed: old !== undefined });
    tallyChanged();
  });
});
console.log(`listening on ${process.env.PORT}`);
