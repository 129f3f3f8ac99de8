#!/usr/bin/env python3
"""Side-by-side benchmark: xmppctl against xmppc and its own floors, on Prosody and ejabberd.

One run, one table (medians of --reps runs, interleaved so that load from other processes on a
shared machine hits every side alike):

1. cold ``--help``: xmppctl, the one-command typer app (its framework floor) and ``xmppc --help``.
2. ``roster list`` of 10 and of 1000 contacts, on a throwaway Prosody and a throwaway ejabberd
   (xmppctl.devserver; rosters seeded in storage): ``xmppctl roster list -o json``, the bare
   slixmpp floor and ``xmppc -m roster list``.  xmppc has no port option, so it runs through
   ../shared/xmppbench/peer.sh (loopback DNS stub for the SRV record, SSL_CERT_FILE for the
   CA); peer.sh's own cost is timed alongside and subtracted.
3. ``roster import`` of 1000 contacts into an empty account: xmppctl pipelined (default
   window) and one at a time (--window 1) against bare slixmpp doing the same both ways.
   xmppc cannot import a roster, so there is no peer row.
4. ``presence probe`` of 200 contacts, 100 of them online, against ``roster list`` of the same
   account (start-up + login + roster: what the probe adds is the difference).  On Prosody
   only: ejabberdctl registers one user per VM start, which makes 200 users cost minutes.

The measuring code is that of bench_foundation.py, bench_import.py and bench_probe.py; this
script runs their pieces on both servers and gathers the medians.  Always exits 0 when
everything ran (targets are checked by those scripts).

    python3 bench/bench_peers.py [--reps 5] [--import-reps 3] [--sizes 10 1000] [--no-ejabberd]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_foundation as foundation  # noqa: E402
import bench_import  # noqa: E402
import bench_probe  # noqa: E402
from tabulate import tabulate  # noqa: E402

from xmppctl import devserver  # noqa: E402

PASSWORD = "bench-secret-1"


class Table:
    """Summary rows: what, server, subject and its median, baseline and its median, subject/baseline."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(self, what: str, server: str, subject: str, subject_s: float, baseline: str, baseline_s: float | None) -> None:
        ratio = f"{subject_s / baseline_s:.2f}x" if baseline_s else "-"
        base_ms = f"{baseline_s * 1000:.0f}" if baseline_s is not None else "-"
        self.rows.append([what, server, subject, f"{subject_s * 1000:.0f}", baseline, base_ms, ratio])

    def note(self, what: str, server: str, text: str) -> None:
        self.rows.append([what, server, text, "-", "-", "-", "-"])

    def render(self) -> str:
        return tabulate(self.rows, headers=["benchmark", "server", "A", "A ms", "B", "B ms", "A / B"],
                        tablefmt="github", disable_numparse=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def server_versions() -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}, ", "prosody", "ejabberd", "xmppc"],
                       capture_output=True, text=True)
    return r.stdout.strip(" ,") or "unknown (dpkg-query failed)"


def bench_help(table: Table, reps: int) -> None:
    cases = foundation.help_cases()
    if shutil.which("xmppc"):
        cases["xmppc --help"] = (["xmppc", "--help"], None)
    times = foundation.side_by_side(cases, reps)
    foundation.report("cold --help (process start to exit)", times, "typer floor --help", "xmppctl --help",
                      foundation.HELP_TARGET)
    ctl = median(times["xmppctl --help"])
    table.add("cold --help", "-", "xmppctl", ctl, "typer floor", median(times["typer floor --help"]))
    if "xmppc --help" in times:
        table.add("cold --help", "-", "xmppctl", ctl, "xmppc", median(times["xmppc --help"]))
    else:
        table.note("cold --help", "-", "xmppc not installed")


def bench_roster(table: Table, server, sizes: list[int], reps: int) -> None:
    # Seed every roster before anyone logs in: Prosody's seed_roster writes its storage directly.
    users = {}
    for n in sizes:
        jid = server.register(f"alice{n}", PASSWORD)
        server.seed_roster(f"alice{n}", [devserver.Contact(f"contact{i:04d}@{server.domain}", f"Contact {i:04d}",
                                                           (f"Group {i % 10 + 1}",), "both")
                                         for i in range(1, n + 1)])
        users[n] = jid
    for n in sizes:
        cases = foundation.roster_cases(server, users[n], PASSWORD, n)
        why_not = foundation.add_xmppc(cases, server, users[n], PASSWORD, n)
        times = foundation.side_by_side(cases, reps)
        ctl_name, floor_name = list(cases)[:2]
        foundation.report(f"{server.kind}: roster list of {n} (login + fetch + print + close)", times,
                          floor_name, ctl_name, foundation.ROSTER_TARGET)
        what = f"roster list ({n})"
        ctl = median(times[ctl_name])
        table.add(what, server.kind, "xmppctl", ctl, "bare slixmpp", median(times[floor_name]))
        net = foundation.xmppc_net(times)
        if net is None:
            print(f"  xmppc: {why_not}")
            table.note(what, server.kind, f"xmppc {why_not}")
        else:
            print(f"  xmppc net of peer.sh overhead: {net * 1000:.1f} ms; xmppctl / xmppc: {ctl / net:.2f}x")
            table.add(what, server.kind, "xmppctl", ctl, "xmppc (net of peer.sh)", net)


def bench_import_1000(table: Table, server, work: Path, items: int, reps: int) -> None:
    bench = bench_import.Bench(server, work, items)
    times = bench.import_run(reps, second_import=False, ctl_one_at_a_time=True)
    ctl, floor, floor_one, ctl_one = list(times)
    what = f"roster import ({items})"
    table.add(what, server.kind, "xmppctl (window 32)", median(times[ctl]), "bare slixmpp (window 32)", median(times[floor]))
    table.add(what, server.kind, "xmppctl --window 1", median(times[ctl_one]), "bare slixmpp (window 1)",
              median(times[floor_one]))
    table.add(what, server.kind, "xmppctl (window 32)", median(times[ctl]), "xmppctl --window 1", median(times[ctl_one]))


def bench_probe_200(table: Table, server, work: Path, contacts: int, reps: int) -> None:
    probes, floors = bench_probe.run_probe(server, work, contacts, reps)
    print(f"\n== {server.kind}: presence probe of {contacts} ({contacts // 2} online), median of {reps}")
    print(f"  xmppctl presence probe -o json   {foundation.fmt_ms(probes)}")
    print(f"  xmppctl roster list -o json      {foundation.fmt_ms(floors)}")
    table.add(f"presence probe ({contacts}, {contacts // 2} online)", server.kind, "xmppctl presence probe",
              median(probes), "xmppctl roster list", median(floors))


def on_server(table: Table, server, work: Path, args) -> None:
    t0 = time.perf_counter()
    server.start()
    print(f"\n#### {server.kind} {server.domain} on 127.0.0.1:{server.port} (up in {time.perf_counter() - t0:.1f} s)")
    try:
        if args.only in (None, "roster"):
            bench_roster(table, server, args.sizes, args.reps)
        if args.only in (None, "import"):
            bench_import_1000(table, server, work, args.import_items, args.import_reps)
        if args.only in (None, "probe") and server.kind == "prosody":
            bench_probe_200(table, server, work, args.probe_contacts, args.reps)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="timed runs per case for --help, roster list, probe")
    parser.add_argument("--import-reps", type=int, default=3, help="imports of each kind (each takes seconds)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000], help="roster sizes for roster list")
    parser.add_argument("--import-items", type=int, default=1000)
    parser.add_argument("--probe-contacts", type=int, default=200)
    parser.add_argument("--no-ejabberd", action="store_true")
    parser.add_argument("--only", choices=("help", "roster", "import", "probe"), help="run one part only")
    args = parser.parse_args()

    started = time.perf_counter()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {platform.machine()}, {os.cpu_count()} CPUs; "
          f"python {platform.python_version()}; {server_versions()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"xmppctl = {' '.join(foundation.xmppctl_argv())}")
    table = Table()
    if args.only in (None, "help"):
        bench_help(table, args.reps)
    # ejabberdctl runs the node as the 'ejabberd' user: the tree must be traversable by others.
    # Domains of our own: peer.sh's DNS stub maps one port per domain, shared with other users.
    work = Path(tempfile.mkdtemp(prefix="xmppctl-bench-peers-"))
    os.chmod(work, 0o755)
    try:
        if args.only != "help":
            on_server(table, devserver.ProsodyServer(work / "prosody", domain=f"xp{os.getpid()}.test"), work, args)
            if args.no_ejabberd:
                pass
            elif not devserver.have("ejabberdctl"):
                print("\n(ejabberd: skipped, ejabberdctl is not installed)")
                table.note("all", "ejabberd", "skipped: ejabberd not installed")
            elif args.only != "probe":
                on_server(table, devserver.EjabberdServer(work / "ejabberd", domain=f"xe{os.getpid()}.test"), work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n== summary: medians (A and B interleaved; --help, roster list, probe n={args.reps}; "
          f"import n={args.import_reps}); xmppc net of peer.sh overhead\n")
    print(table.render())
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"whole run {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
