#!/usr/bin/env python3
"""Probe benchmark: ``presence probe`` of 200 subscribed contacts (half online) and ``check
presence`` of one of them, each against ``roster list`` of the same account.

On a throwaway Prosody (or ejabberd with --server ejabberd; servers from tests/support,
loopback): one prober account with --contacts contacts, all with a mutual ``both``
subscription (seeded in storage before anyone logs in); half of them are online, each as one
session held open by ONE helper process (asyncio + open_session, logins in small batches so
the machine is not flooded).  Then, interleaved for --reps runs:

- ``xmppctl presence probe -o json`` (the whole command: start-up, login, roster, probe, close)
- ``xmppctl check presence JID`` of one online contact (the monitoring hot path)
- ``xmppctl roster list -o json`` on the same account: the floor (start-up, login, roster, close)

Prints the medians and the ratios to the floor, and checks every run's answer (the probe: 100
online rows, 100 offline, nothing timed out; the check: exit 0).  Targets: probe <= 1.2x the
floor, check <= 1.1x.  Exit 0 when both are met.  Not part of the test suite.

    python3 bench/bench_probe.py [--contacts 200] [--reps 5] [--server ejabberd]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_foundation import xmppctl_argv  # noqa: E402
from tests.support import Contact, EjabberdServer, ProsodyServer  # noqa: E402

#: goals: presence probe / roster list, check presence of one contact / roster list
PROBE_GOAL, CHECK_GOAL = 1.2, 1.1
PASSWORD = "bench-pw"


def hold_sessions(port: int, ca_file: str, jids: list[str]) -> None:
    """Helper-process mode: log every JID in, send presence, print READY, hold until stdin closes."""
    from xmppctl.config import Account
    from xmppctl.xmpp.session import open_session

    def NO_STRAYS_EXPECTED(xml) -> bool:  # noqa: N802 - the bench sessions receive no messages
        return False


    async def one(jid: str, gate: asyncio.Semaphore, up: asyncio.Event, release: asyncio.Event, counter: list[int]) -> None:
        account = Account(jid=jid, server="127.0.0.1", port=port, ca_file=ca_file, timeout=30)
        async with gate:
            cm = open_session(account, PASSWORD, keeper=NO_STRAYS_EXPECTED)
            s = await cm.__aenter__()
        try:
            s.send_presence(status="bench", priority=1)
            counter[0] += 1
            if counter[0] == len(jids):
                up.set()
            await release.wait()
        finally:
            await cm.__aexit__(None, None, None)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate, up, release, counter = asyncio.Semaphore(8), asyncio.Event(), asyncio.Event(), [0]
        tasks = [asyncio.ensure_future(one(j, gate, up, release, counter)) for j in jids]
        await up.wait()
        print("READY", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # the bench closes our stdin when done
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


#: CPU seconds (user + system) of each timed command, by its last word: our own cost, which
#: a loaded machine disturbs much less than the wall time
CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict, key: str | None = None) -> tuple[float, str]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[-4:])} failed ({proc.returncode}): {proc.stderr.strip()}")
    if key is not None:
        CPU.setdefault(key, []).append(_children_cpu() - cpu0)
    return elapsed, proc.stdout


def run_probe(server, tmp: Path, contacts: int, reps: int) -> dict[str, list[float]]:
    """Times of each command ("probe", "check", "floor") on the started *server*, half of
    *contacts* online.  Registers a prober and *contacts* users (seeded before any logs in).
    """
    n_online = contacts // 2
    holder = None
    try:
        t0 = time.perf_counter()
        names = [f"c{i:04d}" for i in range(contacts)]
        prober = server.register_many([("prober", PASSWORD)] + [(name, PASSWORD) for name in names])[0]
        for name in names:
            server.seed_roster(name, [Contact(prober, subscription="both")])
        server.seed_roster("prober", [Contact(f"{n}@{server.domain}", subscription="both") for n in names])
        print(f"set-up: {contacts} contacts registered and seeded in {time.perf_counter() - t0:.1f} s")

        online = [f"{n}@{server.domain}" for n in names[:n_online]]
        jidfile = tmp / "online.txt"
        jidfile.write_text("\n".join(online))
        t0 = time.perf_counter()
        holder = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--hold-sessions", str(server.port),
                                   str(server.ca_file), str(jidfile)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if holder.stdout.readline().strip() != "READY":
            raise SystemExit("the helper process could not bring the contacts online")
        print(f"set-up: {n_online} contact sessions online (one process) in {time.perf_counter() - t0:.1f} s")

        env = dict(os.environ, XMPPCTL_PASSWORD=PASSWORD)
        base = xmppctl_argv() + ["--jid", prober, "--server", "127.0.0.1", "--port", str(server.port),
                                 "--ca-file", str(server.ca_file), "--timeout", "10"]
        probe_argv = base + ["presence", "probe", "-o", "json"]
        check_argv = base + ["check", "presence", online[0]]
        floor_argv = base + ["roster", "list", "-o", "json"]
        timed(probe_argv, env)  # warm-up: page cache, the server's first-login work
        times: dict[str, list[float]] = {"probe": [], "check": [], "floor": []}
        for _ in range(reps):
            elapsed, out = timed(probe_argv, env, "probe")
            times["probe"].append(elapsed)
            states = Counter(row["state"] for row in json.loads(out))
            if states != Counter({"online": n_online, "offline": contacts - n_online}):
                raise SystemExit(f"incomplete probe answer: {dict(states)}")
            elapsed, out = timed(check_argv, env, "check")  # exit 0 (OK) checked by timed()
            times["check"].append(elapsed)
            times["floor"].append(timed(floor_argv, env, "floor")[0])
        return times
    finally:
        if holder is not None:
            holder.stdin.close()
            try:
                holder.wait(30)
            except subprocess.TimeoutExpired:
                holder.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contacts", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--server", choices=("prosody", "ejabberd"), default="prosody")
    ap.add_argument("--hold-sessions", nargs=3, metavar=("PORT", "CA", "JIDFILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hold_sessions:
        port, ca, jidfile = args.hold_sessions
        hold_sessions(int(port), ca, Path(jidfile).read_text().split())
        return 0

    with tempfile.TemporaryDirectory(prefix="xmppctl-bench-probe-") as tmp:
        if args.server == "ejabberd":  # ejabberdctl runs the node as 'ejabberd': a directory it can enter
            Path(tmp).chmod(0o755)
            server = EjabberdServer(Path(tempfile.mkdtemp(prefix="xmppctl-ejabberd-")))
        else:
            server = ProsodyServer(Path(tmp) / "prosody")
        server.start()
        try:
            times = run_probe(server, Path(tmp), args.contacts, args.reps)
        finally:
            server.stop()

    n_online = args.contacts // 2
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"server: {args.server}; medians of {args.reps} interleaved runs")
    for key, what in (("probe", f"presence probe, {args.contacts} contacts ({n_online} online)"),
                      ("check", "check presence of 1 online contact"),
                      ("floor", f"roster list of the same account ({args.contacts} items)")):
        print(f"{what}: {med[key]:.3f} s  (min {min(times[key]):.3f}, max {max(times[key]):.3f}; "
              f"CPU of the command {statistics.median(CPU[key]):.3f} s)")
    probe_ratio, check_ratio = med["probe"] / med["floor"], med["check"] / med["floor"]
    print(f"probe / roster list: {probe_ratio:.2f}x (goal <= {PROBE_GOAL}x: {'met' if probe_ratio <= PROBE_GOAL else 'NOT met'})")
    print(f"check / roster list: {check_ratio:.2f}x (goal <= {CHECK_GOAL}x: {'met' if check_ratio <= CHECK_GOAL else 'NOT met'})")
    print(f"ratios of the minima: probe {min(times['probe']) / min(times['floor']):.2f}x, "
          f"check {min(times['check']) / min(times['floor']):.2f}x; load average {os.getloadavg()[0]:.2f}")
    return 0 if probe_ratio <= PROBE_GOAL and check_ratio <= CHECK_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
