"""Fan-out benchmark (not a test): writing one broadcast to N websockets, two ways, in the
same run, on real loopback TCP sockets whose other ends are read by another process.

* ``queued`` — as python-engineio does per connection: the message is put on each
  connection's queue, each connection's writer greenlet wakes, frames it with wsproto and
  sends it (a model of ``engineio.socket.Socket``'s writer and simple-websocket's send,
  written with the same gevent queue and wsproto calls).
* ``direct`` — as ``web/fanout.py`` does: the frame is made once (``SharedText``) and
  written to each socket without waiting.

Reports the median time to hand one broadcast to all N sockets (until the last write has
returned) and the ratio. Bounded: ``--rounds`` broadcasts per way.

    .venv/bin/python bench/bench_fanout.py --clients 1000 --rounds 30
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.queue  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import AcceptConnection, TextMessage  # noqa: E402

from web.fanout import SharedText  # noqa: E402

MESSAGE = '42/vote,["tally",{"motion_id":1,"result":{"counts":{"东片":412,"西片":388,"南片":200},' \
          '"winners":["东片"],"turnout":{"ballots":1000,"eligible":1200}}}]'
HANDSHAKE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def readers(port: int, n: int) -> None:  # the other process: N sockets, read and thrown away
    from gevent import monkey as m

    m.patch_all()
    import gevent as g
    import socket as s

    def drain(sock: s.socket) -> None:
        while sock.recv(262144):
            pass

    socks = [s.create_connection(("127.0.0.1", port)) for _ in range(n)]
    g.joinall([g.spawn(drain, x) for x in socks])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(args.clients)
    child = multiprocessing.get_context("fork").Process(target=readers, args=(listener.getsockname()[1], args.clients))
    child.start()
    socks = []
    for _ in range(args.clients):
        sock, _addr = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    conns = []
    for _ in socks:
        c = WSConnection(ConnectionType.SERVER)
        c.receive_data(HANDSHAKE)
        list(c.events())
        c.send(AcceptConnection())
        conns.append(c)

    queues = [gevent.queue.JoinableQueue() for _ in socks]
    done, count = gevent.event.Event(), [0]

    def writer(i: int) -> None:  # engineio's writer: poll the queue, frame, send
        q, sock, conn = queues[i], socks[i], conns[i]
        while True:
            batch = [q.get()]
            q.task_done()
            while True:
                try:
                    batch.append(q.get(block=False))
                    q.task_done()
                except gevent.queue.Empty:
                    break
            for text in batch:
                sock.sendall(conn.send(TextMessage(data=text)))
            count[0] += len(batch)
            if count[0] >= len(socks):
                done.set()

    for i in range(len(socks)):
        gevent.spawn(writer, i)
    gevent.sleep(0.2)

    def queued() -> float:
        count[0] = 0
        done.clear()
        t0 = time.perf_counter()
        for q in queues:
            q.put(MESSAGE)
        done.wait()
        return time.perf_counter() - t0

    def direct() -> float:
        t0 = time.perf_counter()
        frame = SharedText(MESSAGE).frame
        for sock in socks:
            sock.send(frame, 0, 0.0)
        return time.perf_counter() - t0

    results = {}
    for name, fn in (("queued", queued), ("direct", direct)):
        times = []
        for _ in range(args.rounds):
            times.append(fn())
            gevent.sleep(0.05)  # let the reader process drain
        results[name] = statistics.median(times)
    child.kill()
    row = {"clients": args.clients, "rounds": args.rounds,
           "queued_ms": round(results["queued"] * 1000, 2), "direct_ms": round(results["direct"] * 1000, 2),
           "queued_us_per_client": round(results["queued"] / args.clients * 1e6, 1),
           "direct_us_per_client": round(results["direct"] / args.clients * 1e6, 1),
           "direct_over_queued": round(results["direct"] / results["queued"], 3)}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
