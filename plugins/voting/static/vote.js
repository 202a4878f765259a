/* The phone ballot: tap options (in order, to rank them), send over the /vote socket with a
   client id, keep it in an outbox until the server acknowledges the commit, retry on
   reconnect. A secret ballot's change code stays on this phone (localStorage). */
(function () {
  "use strict";
  var box = document.getElementById("vote");
  if (!box) return;
  var strings = JSON.parse(document.getElementById("vote-strings").textContent);
  var motionId = parseInt(box.dataset.motion, 10);
  var kind = box.dataset.kind;
  var statusEl = box.querySelector("[data-status]");
  var keyName = "courtyard.vote." + motionId;
  var store = {};
  try { store = JSON.parse(localStorage.getItem(keyName) || "{}"); } catch (e) { store = {}; }
  function save() { try { localStorage.setItem(keyName, JSON.stringify(store)); } catch (e) { /* private mode */ } }
  function randomId(n) {
    var a = new Uint8Array(n); (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  if (box.dataset.secret === "1" && !store.voterKey) { store.voterKey = randomId(16); save(); }

  var picked = [];          // choice / approvals / ranking, in tap order
  var scores = {};
  function render() {
    box.querySelectorAll(".opt").forEach(function (b) {
      var i = picked.indexOf(b.dataset.option);
      b.setAttribute("aria-pressed", i >= 0 ? "true" : "false");
      var r = b.querySelector(".rank");
      if (r) r.textContent = (kind === "ranking" && i >= 0) ? String(i + 1) : "";
    });
    box.querySelectorAll(".score-row").forEach(function (row) {
      var o = row.dataset.option;
      row.querySelectorAll("[data-score]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(scores[o]) === b.dataset.score ? "true" : "false");
      });
    });
  }
  box.addEventListener("click", function (ev) {
    var opt = ev.target.closest(".opt");
    if (opt) {
      var o = opt.dataset.option, i = picked.indexOf(o);
      if (kind === "yesno" || kind === "choice") picked = [o];
      else if (i >= 0) picked.splice(i, 1);
      else picked.push(o);
      render(); return;
    }
    var sc = ev.target.closest("[data-score]");
    if (sc) {
      var row = sc.closest(".score-row"), opt2 = row.dataset.option, v = parseInt(sc.dataset.score, 10);
      if (scores[opt2] === v) delete scores[opt2]; else scores[opt2] = v;
      render(); return;
    }
    if (ev.target.closest("[data-clear]")) { picked = []; scores = {}; render(); return; }
    if (ev.target.closest("[data-send]")) send();
  });

  function ballot() {
    if (kind === "yesno" || kind === "choice") return picked.length ? { choice: picked[0] } : null;
    if (kind === "approval") return picked.length ? { approvals: picked.slice() } : null;
    if (kind === "ranking") return picked.length ? { ranking: picked.slice() } : null;
    if (kind === "scores") return Object.keys(scores).length ? { scores: scores } : null;
    return null;
  }

  var socket = io("/vote", { transports: ["websocket", "polling"], tryAllTransports: true });
  var watching = false;
  socket.on("connect", function () {
    socket.emit("watch", { motion_id: motionId }, function (ack) {
      watching = !!(ack && ack.ok);
      if (watching && ack.motion.phase !== "open") statusEl.textContent = strings.closed;
      flush();
    });
  });
  socket.on("motion", function (data) {
    if (data.motion_id === motionId && data.status === "closed") { statusEl.textContent = strings.closed; setTimeout(function () { location.reload(); }, 800); }
  });
  socket.on("tally", function (data) {
    var el = document.querySelector("[data-tally]");
    if (!el || data.motion_id !== motionId) return;
    var r = data.result, counts = r.counts || r.totals || (r.rounds && r.rounds[0].counts) || {};
    el.textContent = "";
    Object.keys(counts).forEach(function (k) {
      var p = document.createElement("p"); p.textContent = k + ": " + counts[k]; el.appendChild(p);
    });
  });

  function send() {
    var b = ballot();
    if (!b) { statusEl.textContent = strings.pick; return; }
    store.outbox = { cid: randomId(12), motion_id: motionId, ballot: b };
    if (store.voterKey) store.outbox.voter_key = store.voterKey;
    save();
    flush();
  }
  var inFlight = false;
  function flush() {
    var msg = store.outbox;
    if (!msg || inFlight) return;
    if (!socket.connected) { statusEl.textContent = strings.retry; return; }
    inFlight = true;
    statusEl.textContent = strings.sending;
    var done = false;
    var timer = setTimeout(function () { if (!done) { inFlight = false; statusEl.textContent = strings.retry; flush(); } }, 5000);
    socket.emit("vote", msg, function (ack) {
      done = true; clearTimeout(timer); inFlight = false;
      if (!ack) return;
      if (ack.ok) {
        if (store.outbox && store.outbox.cid === msg.cid) delete store.outbox;
        if (ack.voter_key) store.voterKey = ack.voter_key;
        if (ack.receipt) store.receipt = ack.receipt;
        save();
        statusEl.textContent = strings.saved;
        var mine = box.querySelector("[data-mine]"); if (mine) mine.hidden = false;
        var rc = box.querySelector("[data-receipt]"); if (rc && ack.receipt) rc.textContent = ack.receipt;
        var ch = box.querySelector("[data-mine-choice]");
        if (ch) ch.textContent = msg.ballot.choice || (msg.ballot.ranking || msg.ballot.approvals || []).join(" > ") || JSON.stringify(msg.ballot.scores);
      } else if (ack.error && ack.error.status === 503) {
        setTimeout(flush, 500);
      } else {
        delete store.outbox; save();
        statusEl.textContent = (ack.error && ack.error.message) || "?";
      }
    });
  }
  if (store.receipt) { var rc0 = box.querySelector("[data-receipt]"); if (rc0 && !rc0.textContent) rc0.textContent = store.receipt; }
  render();
})();
