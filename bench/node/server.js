// The Node peer of bench/bench_live.py and bench/bench_scale.py: a minimal socket.io 4
// server with the same /live wire shape (join → ack; pin → one "event" to the room).
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
console.log(`listening on ${process.env.PORT}`);
