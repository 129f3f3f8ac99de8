#!/usr/bin/env python3
"""Bulk import benchmark: xmppctl against its floors, side by side in one run.

On a throwaway Prosody (and ejabberd, with --ejabberd; servers from tests/support):

1. ``xmppctl roster import FILE`` of N contacts (default 1000) into an empty account, against
   a bare slixmpp script that reads the same file and pipelines the same N roster sets
   (window 32: the floor), and the same script sending one set at a time.  Target: xmppctl
   <= 1.15x the floor.  The servers spend ~5-10 ms of CPU per set on a 1000-item roster, so
   all three are server-bound; what xmppctl controls is its own overhead.
2. The second identical import: must send zero roster sets (checked from its JSON output)
   and cost no more than ``xmppctl roster list -o json`` of the same roster + 10 %.
3. Peak RSS of ``roster import --dry-run -o json`` planning a 10 000-contact file against a
   10 000-contact roster (half of them differing), from the child's own rusage (os.wait4).
   Target: <= 80 MB.  On Prosody only: it is the client's memory.

Every import goes into a fresh account, interleaved (xmppctl, floor, one-at-a-time, ...) so
that load from other processes on a shared machine hits all alike; medians of --reps runs.
Exit status 0 when every target is met, 1 otherwise (not part of the test suite).

    python3 bench/bench_import.py [--items 1000] [--reps 3] [--plan-items 10000] [--ejabberd]

Internal: ``bench_import.py --floor-child JID HOST PORT CA FILE WINDOW`` is the bare script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_foundation import xmppctl_argv  # noqa: E402

IMPORT_TARGET = 1.15
SECOND_TARGET = 1.10
RSS_TARGET_MB = 80


# ---- the floor: a bare slixmpp script -------------------------------------------------------

async def floor_child(jid: str, host: str, port: int, ca_file: str, path: str, window: int) -> None:
    """Connect, pipeline one roster set per contact of *path* (TOML), at most *window* in flight."""
    import asyncio
    import tomllib
    import xml.etree.ElementTree as ET

    sys.path.insert(0, str(HERE))
    from floor_slixmpp_roster import login

    with open(path, "rb") as fh:
        contacts = tomllib.load(fh)["contact"]
    client = await login(jid, host, port, ca_file)
    ns = "jabber:iq:roster"
    sem = asyncio.Semaphore(window)

    async def one(contact: dict) -> None:
        async with sem:
            iq = client.Iq()
            iq["type"] = "set"
            query = ET.SubElement(iq.xml, f"{{{ns}}}query")
            item = ET.SubElement(query, f"{{{ns}}}item", {"jid": contact["jid"]})
            if contact.get("name"):
                item.set("name", contact["name"])
            for group in contact.get("groups", []):
                ET.SubElement(item, f"{{{ns}}}group").text = group
            await iq.send(timeout=60)

    await asyncio.gather(*(one(c) for c in contacts))
    await client.disconnect()


# ---- the harness ----------------------------------------------------------------------------

CPU: dict[str, list[float]] = {}


def timed(argv: list[str], env: dict, cpu_key: str | None = None) -> tuple[float, str]:
    """Wall time and stdout of one child; its own user+system CPU goes to CPU[cpu_key]."""
    t0 = time.perf_counter()
    # files, not pipes: wait4 (for the child's own rusage) must do the reaping, not communicate()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, env=env, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}... exited {proc.returncode}: {err.decode(errors='replace').strip()[-500:]}")
    if cpu_key:
        CPU.setdefault(cpu_key, []).append(usage.ru_utime + usage.ru_stime)
    return elapsed, out.decode()


def peak_rss_mb(argv: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child, from its own rusage: other children don't count."""
    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        proc = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"dry run exited {proc.returncode}: {err.strip()[-500:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0


def write_contacts(path: Path, n: int, domain: str, *, variant: int = 0) -> None:
    from xmppctl.roster.items import RosterItem
    from xmppctl.roster.files import write_roster_path

    items = [RosterItem(f"contact{i:05d}@{domain}", f"Contact {i:05d}" + (" (new)" if variant and i % 2 else ""),
                        groups=tuple(sorted({f"Group {i % 10 + 1}", f"Team {i % 3 + 1}"})))
             for i in range(1, n + 1)]
    write_roster_path(items, "toml", path)


class Bench:
    def __init__(self, server, work: Path, n_items: int):
        self.server, self.work, self.n = server, work, n_items
        self.file = work / f"contacts-{n_items}.toml"
        write_contacts(self.file, n_items, "peer.example")
        self.count = 0
        self.ok = True

    def user(self) -> tuple[str, dict, list[str]]:
        self.count += 1
        name, password = f"bench{self.count}x{os.getpid()}", "bench-secret-1"
        jid = self.server.register(name, password)
        env = dict(os.environ, XMPPCTL_PASSWORD=password, XMPP_PASSWORD=password)
        ctl = xmppctl_argv() + ["--jid", jid, "--server", "127.0.0.1", "--port", str(self.server.port),
                                "--ca-file", str(self.server.ca_file), "--timeout", "60"]
        return jid, env, ctl

    def floor(self, window: int) -> tuple[list[str], dict]:
        jid, env, _ = self.user()
        return [sys.executable, str(Path(__file__).resolve()), "--floor-child", jid, "127.0.0.1",
                str(self.server.port), str(self.server.ca_file), str(self.file), str(window)], env

    def import_run(self, reps: int, *, second_import: bool = True, ctl_one_at_a_time: bool = False) -> dict[str, list[float]]:
        """Timings by case name; *ctl_one_at_a_time* adds xmppctl with --window 1 (after the floor cases)."""
        names = (f"xmppctl roster import ({self.n})", "bare slixmpp, pipelined (window 32)", "bare slixmpp, one at a time")
        ctl_one = f"xmppctl roster import --window 1 ({self.n})"
        times: dict[str, list[float]] = {name: [] for name in names + ((ctl_one,) if ctl_one_at_a_time else ())}
        second: list[float] = []
        listing: list[float] = []
        for rep in range(reps):
            jid, env, ctl = self.user()
            elapsed, out = timed(ctl + ["roster", "import", str(self.file), "-o", "json"], env, names[0])
            if len(json.loads(out)) != self.n:
                raise RuntimeError(f"xmppctl import sent {len(json.loads(out))} sets, expected {self.n}")
            times[names[0]].append(elapsed)
            for name, window in ((names[1], 32), (names[2], 1)):
                argv, fenv = self.floor(window)
                times[name].append(timed(argv, fenv, name)[0])
            if ctl_one_at_a_time:
                _, env1, ctl1 = self.user()
                elapsed, out = timed(ctl1 + ["roster", "import", "--window", "1", str(self.file), "-o", "json"], env1, ctl_one)
                if len(json.loads(out)) != self.n:
                    raise RuntimeError(f"xmppctl --window 1 sent {len(json.loads(out))} sets, expected {self.n}")
                times[ctl_one].append(elapsed)
            # the second identical import vs a plain listing of the same roster, interleaved
            for _ in range(3 if second_import else 0):
                elapsed, out = timed(ctl + ["roster", "import", str(self.file), "-o", "json"], env)
                if json.loads(out) != []:
                    raise RuntimeError(f"second import sent {len(json.loads(out))} roster sets, expected 0")
                second.append(elapsed)
                elapsed, out = timed(ctl + ["roster", "list", "-o", "json"], env)
                if len(json.loads(out)) != self.n:
                    raise RuntimeError("roster list does not show the imported roster")
                listing.append(elapsed)
            print(f"  (rep {rep + 1}/{reps} done)", file=sys.stderr)
        print(f"\n== {self.server.kind}: import {self.n} contacts into an empty account (median of {reps})")
        for name, values in times.items():
            cpu = statistics.median(CPU[name][-len(values):])
            print(f"  {name:<40} {fmt_s(values)}  {self.n / statistics.median(values):6.0f} sets/s  client CPU {cpu:.2f} s")
        ratio = statistics.median(times[names[0]]) / statistics.median(times[names[1]])
        self.verdict(f"xmppctl / pipelined floor: {ratio:.2f}x", ratio <= IMPORT_TARGET, f"<= {IMPORT_TARGET}x")
        one = statistics.median(times[names[2]]) / statistics.median(times[names[1]])
        print(f"  one-at-a-time / pipelined floor: {one:.2f}x")
        if not second_import:
            return times
        print(f"\n== {self.server.kind}: second identical import (0 roster sets sent, checked) vs roster list")
        print(f"  {'xmppctl roster import (again)':<40} {fmt_s(second)}")
        print(f"  {'xmppctl roster list -o json':<40} {fmt_s(listing)}")
        ratio = statistics.median(second) / statistics.median(listing)
        self.verdict(f"second import / roster list: {ratio:.2f}x", ratio <= SECOND_TARGET, f"<= {SECOND_TARGET}x")
        return times

    def plan_rss(self, n_plan: int) -> None:
        from tests.support import Contact

        name, password = f"planner{os.getpid()}", "bench-secret-1"
        jid = self.server.register(name, password)
        self.server.seed_roster(name, [Contact(f"contact{i:05d}@peer.example", f"Contact {i:05d}",
                                               tuple(sorted({f"Group {i % 10 + 1}", f"Team {i % 3 + 1}"})), "both")
                                       for i in range(1, n_plan + 1)])
        path = self.work / f"plan-{n_plan}.toml"
        write_contacts(path, n_plan, "peer.example", variant=1)
        env = dict(os.environ, XMPPCTL_PASSWORD=password)
        argv = xmppctl_argv() + ["--jid", jid, "--server", "127.0.0.1", "--port", str(self.server.port),
                                 "--ca-file", str(self.server.ca_file), "--timeout", "60",
                                 "roster", "import", str(path), "--dry-run", "-o", "json"]
        baseline, _ = peak_rss_mb(xmppctl_argv() + ["--help"], dict(os.environ))
        rss, seconds = peak_rss_mb(argv, env)
        print(f"\n== {self.server.kind}: --dry-run plan of a {n_plan}-contact file against a {n_plan}-contact roster")
        print(f"  peak RSS {rss:6.1f} MB in {seconds:.2f} s  (xmppctl --help alone: {baseline:.1f} MB)")
        self.verdict(f"peak RSS {rss:.1f} MB", rss <= RSS_TARGET_MB, f"<= {RSS_TARGET_MB} MB")

    def verdict(self, text: str, ok: bool, target: str) -> None:
        print(f"  {text}  (target {target}: {'met' if ok else 'MISSED'})")
        self.ok &= ok


def fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} s  (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def run_on(server, work: Path, args, *, plan: bool = True) -> bool:
    server.start()
    try:
        bench = Bench(server, work, args.items)
        bench.import_run(args.reps)
        if args.plan_items and plan:
            bench.plan_rss(args.plan_items)
        return bench.ok
    finally:
        server.stop()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--floor-child":
        import asyncio

        jid, host, port, ca, path, window = sys.argv[2:8]
        asyncio.run(floor_child(jid, host, int(port), ca, path, int(window)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--plan-items", type=int, default=10_000, help="0 skips the RSS measurement")
    parser.add_argument("--ejabberd", action="store_true", help="also on ejabberd (needs ejabberdctl)")
    args = parser.parse_args()

    from tests import support

    work = Path(tempfile.mkdtemp(prefix="xmppctl-bench-import-"))
    ok = True
    try:
        ok &= run_on(support.ProsodyServer(work / "prosody"), work, args)
        if args.ejabberd:
            if not support.have("ejabberdctl"):
                print("\n(ejabberd: skipped, ejabberdctl is missing)")
            else:
                # ejabberdctl runs the node as the 'ejabberd' user: not under a 0700 directory of root's
                ej_dir = Path(tempfile.mkdtemp(prefix="xmppctl-bench-ejabberd-"))
                os.chmod(ej_dir, 0o755)
                try:
                    # peak RSS is the client's: measured once, on Prosody (seeding 10 000
                    # contacts through ejabberdctl does not fit on one command line)
                    ok &= run_on(support.EjabberdServer(ej_dir), work, args, plan=False)
                finally:
                    shutil.rmtree(ej_dir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nall targets {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
