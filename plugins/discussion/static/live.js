/* Courtyard live page: the /live Socket.IO namespace (docs/realtime.md).
 * No framework. User text is only ever set with textContent.
 * Never lose a word: every event has a per-session seq; on (re)connect we join with the
 * last seq we applied and get what we missed; gaps trigger a sync; our own emits wait in
 * an outbox (kept in localStorage) with a client id until the server acknowledges them. */
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) return;
  var T = JSON.parse(document.getElementById("live-strings").textContent);
  var code = root.dataset.code;
  var store = "courtyard.live." + code;
  var $ = function (id) { return document.getElementById(id); };

  function fmt(msg, params) {
    return msg.replace(/%\((\w+)\)s/g, function (_, k) { return params[k] == null ? "" : String(params[k]); });
  }
  function load(key, fallback) {
    try { var v = localStorage.getItem(store + "." + key); return v ? JSON.parse(v) : fallback; }
    catch (e) { return fallback; }
  }
  function save(key, value) {
    try { localStorage.setItem(store + "." + key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  function newId() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // ---------------------------------------------------------------- state
  var state = {
    seq: null, you: null, joined: false, messages: {}, order: [], present: {}, queue: [], floor: null,
    agenda: [], agendaPosition: null, pinned: null, status: null, attendance: {}, offset: 0, replyTo: null
  };
  var outbox = load("outbox", []);
  var guestToken = load("guest", null);
  var guestName = load("guestName", null);
  var pendingEvents = {};
  var syncing = false;

  // ---------------------------------------------------------------- socket
  var socket = io("/live", { reconnectionDelay: 500, reconnectionDelayMax: 3000, timeout: 8000 });
  window.courtyardLive = { state: state, socket: socket, outbox: outbox };

  function setConn(text, cls) { var c = $("conn"); c.textContent = text; c.className = "conn " + (cls || ""); }

  socket.on("connect", function () { setConn(T.connecting, ""); join(); });
  socket.on("disconnect", function () { state.joined = false; setConn(T.offline, "off"); });
  socket.on("connect_error", function () { setConn(T.offline, "off"); });
  socket.on("event", function (ev) { receive(ev); });
  window.addEventListener("online", function () {
    // a phone coming back: don't wait for the heartbeat to notice the old connection is dead
    if (socket.io && socket.io.engine) { socket.io.engine.close(); }
    if (!socket.connected) { socket.connect(); }
  });
  window.addEventListener("offline", function () { setConn(T.offline, "off"); });

  function join() {
    var needsName = $("guest-form") && !guestToken && !guestName;
    if (needsName) { $("guest-form").hidden = false; $("guest-name").focus(); return; }
    var payload = { code: code, since: state.seq, guest_token: guestToken, guest_name: guestName };
    socket.timeout(10000).emit("join", payload, function (err, ack) {
      if (err) { if (socket.connected) join(); return; }
      if (!ack.ok) { showError(ack.error.message); if (ack.error.status === 404) markClosed(); return; }
      state.you = ack.you;
      if (ack.you.guest_token) { guestToken = ack.you.guest_token; save("guest", guestToken); }
      if ($("guest-form")) $("guest-form").hidden = true;
      if (ack.state) { applySnapshot(ack.state); }
      else { (ack.events || []).forEach(receive); }
      state.joined = true;
      setConn(T.connected, "on");
      $("host").hidden = !ack.you.host;
      root.classList.toggle("is-host", !!ack.you.host);
      renderAll();
      flush();
    });
  }

  if ($("guest-form")) {
    $("guest-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var name = $("guest-name").value.trim();
      if (!name) return;
      guestName = name; save("guestName", name);
      join();
    });
  }

  // ---------------------------------------------------------------- outbox
  function send(event, payload) {
    payload.cid = newId();
    outbox.push({ event: event, payload: payload });
    save("outbox", outbox);
    renderOutbox();
    flush();
  }
  var inflight = {};
  function flush() {
    if (!socket.connected || !state.joined) return;
    outbox.slice().forEach(function (item) {
      var cid = item.payload.cid;
      if (inflight[cid]) return;
      inflight[cid] = true;
      socket.timeout(6000).emit(item.event, item.payload, function (err, ack) {
        delete inflight[cid];
        if (err) { setTimeout(flush, 1000); return; }   // no acknowledgement: try again
        var i = outbox.indexOf(item);
        if (i >= 0) outbox.splice(i, 1);
        save("outbox", outbox);
        if (!ack.ok) {
          if (ack.error.status === 503) { outbox.push(item); save("outbox", outbox); setTimeout(flush, 1000); }
          else showError(ack.error.message, ack.error.fields);
        }
        renderOutbox();
      });
    });
  }

  function showError(message, fields) {
    var box = $("send-error");
    var text = message;
    if (fields) {
      Object.keys(fields).forEach(function (k) { text += " " + [].concat(fields[k]).join(" "); });
    }
    box.textContent = text; box.hidden = false;
    setTimeout(function () { box.hidden = true; }, 6000);
  }

  // ---------------------------------------------------------------- events in order
  function receive(ev) {
    if (state.seq === null) return;            // not joined yet: the join ack brings the state
    if (ev.seq <= state.seq) return;           // already applied (a duplicate or replayed)
    if (ev.seq > state.seq + 1) { pendingEvents[ev.seq] = ev; sync(); return; }
    apply(ev);
    state.seq = ev.seq;
    while (pendingEvents[state.seq + 1]) {
      var next = pendingEvents[state.seq + 1];
      delete pendingEvents[state.seq + 1];
      apply(next); state.seq = next.seq;
    }
    renderAll();
  }
  function sync() {
    if (syncing || !state.joined) return;
    syncing = true;
    socket.timeout(8000).emit("sync", { since: state.seq }, function (err, ack) {
      syncing = false;
      if (err || !ack.ok) { setTimeout(sync, 1000); return; }
      ack.events.forEach(receive);
      if (ack.more) sync();
    });
  }

  function applySnapshot(s) {
    state.seq = s.seq;
    state.offset = Date.parse(s.server_now) - Date.now();
    state.messages = {}; state.order = [];
    s.messages.forEach(function (m) { addMessage(m); });
    state.present = {}; s.present.forEach(function (p) { state.present[p.id] = p; });
    state.queue = s.queue; state.floor = s.floor; state.agenda = s.agenda;
    state.agendaPosition = s.agenda_position; state.pinned = s.pinned; state.status = s.session.status;
    state.attendance = {};
    (s.attendance || []).forEach(function (a) { state.attendance[a.id] = a; });
    Object.keys(pendingEvents).forEach(function (k) { if (+k <= s.seq) delete pendingEvents[k]; });
  }
  function addMessage(m) {
    if (state.messages[m.id]) { state.messages[m.id] = Object.assign(state.messages[m.id], m); return; }
    state.messages[m.id] = m; state.order.push(m.id);
  }
  function apply(ev) {
    var d = ev.data;
    switch (ev.kind) {
      case "message": addMessage(Object.assign({ at: ev.at, seq: ev.seq }, d)); break;
      case "hidden":
        if (state.messages[d.message_id]) {
          state.messages[d.message_id].hidden = true;
          state.messages[d.message_id].hidden_reason = d.reason;
          if (!(state.you && state.you.host)) state.messages[d.message_id].body = "";
        }
        break;
      case "presence":  // who of those who came or went is here now (several at once)
        (d.present || []).forEach(function (p) {
          state.present[p.id] = p;
          var a = state.attendance[p.id] || Object.assign({}, p);
          a.online = true; state.attendance[p.id] = a;
        });
        (d.absent || []).forEach(function (id) {
          delete state.present[id];
          if (state.attendance[id]) state.attendance[id].online = false;
        });
        break;
      case "hand_raised":
        if (!state.queue.some(function (q) { return q.request_id === d.request_id; })) state.queue.push(d);
        break;
      case "hand_lowered":
        state.queue = state.queue.filter(function (q) { return q.request_id !== d.request_id; }); break;
      case "floor_granted":
        state.floor = d; state.floorNote = null;
        state.queue = state.queue.filter(function (q) { return q.participant.id !== d.participant.id; });
        break;
      case "floor_released":
        if (state.floor && state.floor.request_id === d.request_id) state.floor = null;
        // the server took the floor back when the speaking time ran out: say so
        state.floorNote = d.reason === "time" && d.participant ? fmt(T.time_ran_out, { name: d.participant.name }) : null;
        break;
      case "agenda": state.agendaPosition = d.position; break;
      case "pinned": state.pinned = d.text; break;
      case "status":
        state.status = d.status;
        if (d.status === "closed") { state.floor = null; state.queue = []; }
        break;
    }
  }

  // ---------------------------------------------------------------- rendering (textContent only)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function roleLabel(p) {
    if (!p) return "";
    if (p.role === "guest") return T.guest;
    if (p.role === "host") return T.host;
    if (p.role === "department") return T.department;
    return "";
  }
  function renderMessages() {
    var list = $("messages");
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.textContent = "";
    state.order.forEach(function (id) {
      var m = state.messages[id];
      var li = el("li", "msg" + (m.from_floor ? " from-floor" : "") + (m.hidden ? " hidden-msg" : ""));
      li.dataset.id = m.id;
      var head = el("div", "msg-head");
      head.appendChild(el("strong", "who", m.participant ? m.participant.name : ""));
      var r = roleLabel(m.participant);
      if (r) head.appendChild(el("span", "role", r));
      if (m.from_floor) head.appendChild(el("span", "floor-mark", T.from_floor));
      li.appendChild(head);
      if (m.reply_to && state.messages[m.reply_to]) {
        var parent = state.messages[m.reply_to];
        li.appendChild(el("div", "quote", (parent.participant ? parent.participant.name + ": " : "") +
          (parent.hidden && !parent.body ? T.hidden : parent.body)));
      }
      if (m.hidden && !m.body) { li.appendChild(el("div", "body muted", T.hidden)); }
      else {
        var body = el("div", "body", m.body);
        body.setAttribute("dir", "auto");
        li.appendChild(body);
        if (m.hidden) li.appendChild(el("div", "muted", T.hidden + (m.hidden_reason ? ": " + m.hidden_reason : "")));
      }
      var actions = el("div", "msg-actions");
      if (!m.hidden && state.status !== "closed") {
        var rb = el("button", "chip reply", T.reply); rb.type = "button";
        rb.addEventListener("click", function () { setReply(m); });
        actions.appendChild(rb);
        if (state.you && state.you.host) {
          var hb = el("button", "chip hide", T.hide); hb.type = "button";
          hb.addEventListener("click", function () {
            var reason = window.prompt(T.hide_reason, "");
            if (reason && reason.trim()) send("hide", { message_id: m.id, reason: reason.trim() });
          });
          actions.appendChild(hb);
        }
      }
      li.appendChild(actions);
      list.appendChild(li);
    });
    outbox.forEach(function (item) {
      if (item.event !== "message") return;
      var li = el("li", "msg pending");
      li.appendChild(el("div", "msg-head", T.sending));
      var b = el("div", "body", item.payload.body); b.setAttribute("dir", "auto");
      li.appendChild(b);
      list.appendChild(li);
    });
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
  function renderOutbox() { renderMessages(); }
  function setReply(m) {
    state.replyTo = m.id;
    $("replying").hidden = false;
    $("replying-text").textContent = fmt(T.replying_to, { name: m.participant ? m.participant.name : "" });
    $("body").focus();
  }
  $("reply-cancel").addEventListener("click", function () { state.replyTo = null; $("replying").hidden = true; });

  function renderPresence() {
    var ids = Object.keys(state.present);
    var count = $("count");
    count.textContent = fmt(T.here, { count: ids.length });
    count.dataset.count = ids.length;
    var ul = $("present"); ul.textContent = "";
    ids.map(function (k) { return state.present[k]; })
      .sort(function (a, b) { return a.name.localeCompare(b.name); })
      .forEach(function (p) {
        var li = el("li", "person", p.name);
        var r = roleLabel(p); if (r) li.appendChild(el("span", "role", r));
        if (state.you && state.you.host && state.status === "live") li.appendChild(giveButton(p));
        ul.appendChild(li);
      });
    var att = $("attendance"); att.textContent = "";
    Object.keys(state.attendance).forEach(function (k) {
      var a = state.attendance[k];
      att.appendChild(el("li", "person" + (a.online ? "" : " muted"), a.name + " · " + (a.online ? T.online : T.left)));
    });
  }
  function giveButton(p) {
    var b = el("button", "chip give", T.give_floor); b.type = "button"; b.dataset.participant = p.id;
    b.addEventListener("click", function () {
      var s = $("seconds").value;
      send("grant_floor", { participant_id: p.id, seconds: s ? parseInt(s, 10) : null });
    });
    return b;
  }
  function renderFloor() {
    var q = $("queue"); q.textContent = "";
    if (!state.queue.length) q.appendChild(el("li", "muted", T.queue_empty));
    state.queue.forEach(function (r) {
      var li = el("li", "queued", r.participant.name);
      li.dataset.participant = r.participant.id;
      if (state.you && state.you.host) li.appendChild(giveButton(r.participant));
      q.appendChild(li);
    });
    var mine = state.you && state.queue.some(function (r) { return r.participant.id === state.you.id; });
    var hand = $("hand");
    hand.textContent = mine ? T.lower_hand : T.raise_hand;
    hand.setAttribute("aria-pressed", mine ? "true" : "false");
    hand.dataset.raised = mine ? "1" : "0";
    var who = $("floor-who");
    if (state.floor) {
      var me = state.you && state.floor.participant.id === state.you.id;
      who.textContent = me ? T.you_have_floor : fmt(T.has_floor, { name: state.floor.participant.name });
      $("floor").classList.add("active");
    } else {
      who.textContent = state.floorNote ? state.floorNote + " · " + T.nobody_floor : T.nobody_floor;
      $("floor").classList.remove("active");
    }
    tick();
  }
  function tick() {
    var cd = $("countdown");
    if (!state.floor || !state.floor.ends_at) { cd.hidden = true; return; }
    var left = Math.round((Date.parse(state.floor.ends_at) - (Date.now() + state.offset)) / 1000);
    cd.hidden = false;
    if (left <= 0) { cd.textContent = T.time_up; cd.classList.add("up"); return; }
    cd.classList.remove("up");
    var mm = Math.floor(left / 60), ss = left % 60;
    cd.textContent = fmt(T.time_left, { time: mm + ":" + (ss < 10 ? "0" : "") + ss });
  }
  setInterval(tick, 500);
  function renderAgenda() {
    var now = $("agenda-now");
    var current = state.agenda.filter(function (a) { return a.position === state.agendaPosition; })[0];
    now.hidden = !current;
    now.textContent = current ? current.position + ". " + current.title : "";
    var ol = $("agenda"); ol.textContent = "";
    state.agenda.forEach(function (a) {
      var li = el("li", a.position === state.agendaPosition ? "current" : "");
      var b = el("button", "chip", a.title); b.type = "button"; b.dataset.position = a.position;
      b.addEventListener("click", function () { send("agenda", { position: a.position }); });
      li.appendChild(b); ol.appendChild(li);
    });
    var pinned = $("pinned");
    pinned.hidden = !state.pinned; pinned.textContent = state.pinned || "";
  }
  function markClosed() {
    $("closed").hidden = false; $("compose").hidden = true; $("queue-box").hidden = true;
  }
  function renderAll() {
    renderMessages(); renderPresence(); renderFloor(); renderAgenda();
    if (state.status === "closed") markClosed();
    $("open").hidden = state.status !== "scheduled";
    $("close").hidden = state.status !== "live";
    root.dataset.seq = state.seq == null ? "" : state.seq;
    root.dataset.status = state.status || "";
  }

  // ---------------------------------------------------------------- controls
  $("compose").addEventListener("submit", function (e) {
    e.preventDefault();
    var body = $("body").value;
    if (!body.trim()) return;
    send("message", { body: body, reply_to: state.replyTo });
    $("body").value = ""; state.replyTo = null; $("replying").hidden = true;
  });
  $("body").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("compose").requestSubmit(); }
  });
  $("hand").addEventListener("click", function () {
    send($("hand").dataset.raised === "1" ? "lower_hand" : "raise_hand", {});
  });
  $("revoke").addEventListener("click", function () { send("revoke_floor", {}); });
  $("open").addEventListener("click", function () { send("status", { status: "live" }); });
  $("close").addEventListener("click", function () { send("status", { status: "closed" }); });
  $("pin-form").addEventListener("submit", function (e) {
    e.preventDefault(); send("pin", { text: $("pin-text").value }); $("pin-text").value = "";
  });
  $("unpin").addEventListener("click", function () { send("pin", { text: null }); });
})();
