"""Start many throwaway ejabberd (or Prosody) servers at once, each from its own process, as
parallel test workers do, and report how many failed to start (a port taken between choosing
it and the server binding it ended a test run with 45 errors: ``eaddrinuse``).

    .venv/bin/python -m bench.many_servers 30            # 30 ejabberd nodes at once
    .venv/bin/python -m bench.many_servers 30 --prosody
    .venv/bin/python -m bench.many_servers 30 --churn     # plus outgoing connections meanwhile

--churn adds what a test run does around the servers: many short client connections, each
taking a local port from the ephemeral range (and keeping it in TIME_WAIT for a minute).

Too heavy for the suite (~1 s of CPU per node); run by hand after touching tests/support/.
Exit 0 when every server started and answered a stream header, 1 otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path


def _one(kind: str, directory: str, barrier, results) -> None:
    from tests.support import EjabberdServer, ProsodyServer

    server = (EjabberdServer if kind == "ejabberd" else ProsodyServer)(Path(directory))
    barrier.wait(120)  # every process chooses its ports and starts at the same moment
    t0 = time.monotonic()
    try:
        server.start()
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, counted
        outcome = f"failed: {str(exc).splitlines()[0]}"
    ports = (server.port, getattr(server, "dist_port", None))
    results.put((directory, outcome, ports, time.monotonic() - t0))
    try:
        barrier.wait(900)  # all running at once: every port stays bound while the others start
    finally:
        server.stop()


def _churn(stop) -> None:
    """Open and close loopback connections (client side first: TIME_WAIT here) until *stop*."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(512)
        address = listener.getsockname()
        while not stop.is_set():
            for _ in range(200):
                c = socket.create_connection(address)
                a, _ = listener.accept()
                c.close()
                a.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, nargs="?", default=30)
    parser.add_argument("--prosody", action="store_true", help="Prosody instead of ejabberd")
    parser.add_argument("--churn", action="store_true", help="short outgoing connections meanwhile")
    args = parser.parse_args()
    kind = "prosody" if args.prosody else "ejabberd"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(args.count), ctx.Queue()
    base = Path(tempfile.mkdtemp(prefix="xmppctl-many-", dir="/tmp"))
    base.chmod(0o755)  # ejabberd runs as its own user and must reach its directory
    procs = [ctx.Process(target=_one, args=(kind, str(base / f"s{i}"), barrier, results)) for i in range(args.count)]
    stop = ctx.Event()
    churn = ctx.Process(target=_churn, args=(stop,)) if args.churn else None
    if churn is not None:
        churn.start()
    t0 = time.monotonic()
    for p in procs:
        p.start()
    rows = [results.get(timeout=900) for _ in procs]
    stop.set()
    if churn is not None:
        churn.join(60)
    for p in procs:
        p.join(120)
    failed = [r for r in rows if r[1] != "ok"]
    ports = [p for r in rows for p in r[2] if p]
    print(f"{kind}: {len(rows) - len(failed)}/{len(rows)} started in {time.monotonic() - t0:.0f} s "
          f"(slowest start {max(r[3] for r in rows):.1f} s); distinct ports: {len(set(ports))}")
    for r in failed:
        print(f"  {r[0]}: {r[1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
