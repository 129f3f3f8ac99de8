#!/usr/bin/env python3
"""Start-up benchmark: every row of the start-up table side by side in one run, on Prosody and ejabberd.

For shell loops and cron the fixed cost of each invocation is what users feel.  Rows (A vs B,
goal on the ratio of the medians):

1. ``roster list -o json`` of 10 contacts vs a bare slixmpp script that connects, fetches and
   prints the same roster (floor_slixmpp_roster.py; outputs checked equal): <= 1.05x.
2. the same with 1000 contacts: <= 1.05x.
3. ``xmppctl --help`` vs ``--help`` of a one-command typer app (floor_typer_app.py): <= 1.0x.
4. a usage error (``xmppctl --jid 'not a jid' roster list``, exit 2) vs ``xmppctl --help``: <= 1.10x.
5. ``roster import`` of 1000 contacts into an empty account vs a bare slixmpp script that
   pipelines the same roster sets (bench_import.py's floor, window 32): <= 1.10x.  On ejabberd;
   on Prosody only with --import-prosody (~7 s per import there, server-bound).

Two more rows catch a typer regression (typer 0.29 builds pydantic adapters for every option):
``roster list --help`` vs the typer floor (<= 1.0x), and whether it imports pydantic at all.

Rows 1, 2 and 5 run on a throwaway Prosody and a throwaway ejabberd (tests/support).  The
cases of each row run interleaved (A, B, A, B, ...) after one warm-up run each, so that load
from other processes on a shared machine hits both alike; medians of --reps runs.  The table
also shows the ratio of the children's own CPU time (user + system, from wait4), which load
disturbs less than wall time, the median of the per-round ratios (each A run against the B run
next to it: "paired", which drifting machine speed disturbs less than the ratio of the medians),
and the 1-minute load average after each section.  The verdict is on the ratio of the medians.

    python3 bench/bench_startup.py [--reps 15] [--help-reps 31] [--import-reps 5] [--sizes 10 1000]
                                   [--servers prosody ejabberd] [--only help|roster|import]

Exit status 0 when every goal is met, 1 otherwise.  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_foundation as foundation  # noqa: E402
import bench_import  # noqa: E402
from tabulate import tabulate  # noqa: E402

from tests import support as devserver  # noqa: E402  (the test-server launchers)

PASSWORD = "bench-secret-1"
GOALS = {"roster list": 1.05, "help": 1.0, "usage error": 1.10, "roster import": 1.10, "typer": 1.0}


@dataclass
class Case:
    argv: list[str]
    env: dict | None = None
    code: int = 0  # the exit status every run must have


@dataclass
class Sample:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.wall)

    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def measure(case: Case) -> tuple[float, float, str]:
    """(wall seconds, the child's own user+system CPU seconds, stdout) of one run of *case*."""
    t0 = time.perf_counter()
    out, err, code, usage = _run_child(case)
    elapsed = time.perf_counter() - t0
    if code != case.code:
        raise RuntimeError(f"{' '.join(case.argv[:8])}... exited {code}, expected {case.code}: {err.strip()[-400:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, out


def _run_child(case: Case):
    import subprocess

    # files, not pipes: wait4 (for the child's own rusage) must do the reaping
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(case.argv, stdout=out_f, stderr=err_f, env=case.env, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        return out_f.read().decode(), err_f.read().decode(errors="replace"), proc.returncode, usage


def interleaved(cases: dict[str, Case], reps: int) -> dict[str, Sample]:
    """One warm-up run of each case (page cache, .pyc), then *reps* rounds A, B, A, B, ..."""
    samples = {name: Sample() for name in cases}
    for case in cases.values():
        measure(case)
    for _ in range(reps):
        for name, case in cases.items():
            wall, cpu, _ = measure(case)
            samples[name].wall.append(wall)
            samples[name].cpu.append(cpu)
    return samples


def print_samples(title: str, samples: dict[str, Sample]) -> None:
    print(f"\n== {title}")
    for name, s in samples.items():
        print(f"  {name:<46} {s.median() * 1000:7.1f} ms (min {min(s.wall) * 1000:.1f}, max {max(s.wall) * 1000:.1f}, "
              f"n={len(s.wall)})  CPU {s.cpu_median() * 1000:6.1f} ms")


class Table:
    """The summary: one row per goal, A and B side by side."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.ok = True

    def add(self, what: str, server: str, a: str, sa: Sample, b: str, sb: Sample, goal: float) -> None:
        ratio = sa.median() / sb.median()
        paired = statistics.median(x / y for x, y in zip(sa.wall, sb.wall))
        met = ratio <= goal
        self.ok &= met
        self.rows.append([what, server, a, f"{sa.median() * 1000:.0f}", b, f"{sb.median() * 1000:.0f}",
                          f"{ratio:.2f}x", f"{paired:.2f}x", f"{sa.cpu_median() / sb.cpu_median():.2f}x", f"<= {goal:.2f}x",
                          "met" if met else "MISSED", f"{os.getloadavg()[0]:.2f}"])

    def check(self, what: str, server: str, text: str, met: bool) -> None:
        self.ok &= met
        self.rows.append([what, server, text, "-", "-", "-", "-", "-", "-", "-", "met" if met else "MISSED",
                          f"{os.getloadavg()[0]:.2f}"])

    def render(self) -> str:
        return tabulate(self.rows, headers=["row", "server", "A", "A ms", "B", "B ms", "A / B", "paired", "CPU A / B",
                                            "goal", "verdict", "load"], tablefmt="github", disable_numparse=True)


# ---- rows 3 and 4 (and the typer check): no server --------------------------------------------

def bench_help(table: Table, reps: int) -> None:
    ctl = foundation.xmppctl_argv()
    cases = {
        "xmppctl --help": Case(ctl + ["--help"]),
        "typer floor --help": Case([sys.executable, str(HERE / "floor_typer_app.py"), "--help"]),
        "xmppctl --jid 'not a jid' roster list": Case(ctl + ["--jid", "not a jid", "roster", "list"], code=2),
        "xmppctl roster list --help": Case(ctl + ["roster", "list", "--help"]),
    }
    samples = interleaved(cases, reps)
    print_samples("cold start: help and a usage error (process start to exit)", samples)
    names = list(cases)
    table.add("--help", "-", "xmppctl --help", samples[names[0]], "one-command typer app", samples[names[1]],
              GOALS["help"])
    table.add("usage error", "-", "--jid 'not a jid' roster list", samples[names[2]], "xmppctl --help",
              samples[names[0]], GOALS["usage error"])
    table.add("typer check", "-", "xmppctl roster list --help", samples[names[3]], "one-command typer app",
              samples[names[1]], GOALS["typer"])
    heavy = heavy_imports(ctl + ["roster", "list", "--help"])
    table.check("typer check", "-", f"roster list --help imports {', '.join(heavy) or 'no pydantic, asyncio, slixmpp, tabulate'}",
                not heavy)


def heavy_imports(argv: list[str]) -> list[str]:
    """Heavy top-level packages the command imports (traced with PYTHONPROFILEIMPORTTIME)."""
    _, trace, _, _ = _run_child(Case(argv, dict(os.environ, PYTHONPROFILEIMPORTTIME="1")))
    names = {line.rsplit("|", 1)[1].strip().partition(".")[0]
             for line in trace.splitlines() if line.startswith("import time:")}
    return sorted(names & {"pydantic", "asyncio", "slixmpp", "tabulate"})


# ---- rows 1 and 2: roster list ----------------------------------------------------------------

def bench_roster(table: Table, server, sizes: list[int], reps: int) -> None:
    users = {}
    for n in sizes:  # every roster seeded before anyone logs in (Prosody's seed writes its storage)
        users[n] = server.register(f"alice{n}", PASSWORD)
        server.seed_roster(f"alice{n}", [devserver.Contact(f"contact{i:04d}@{server.domain}", f"Contact {i:04d}",
                                                           (f"Group {i % 10 + 1}",), "both")
                                         for i in range(1, n + 1)])
    for n in sizes:
        # roster_cases checks that both print the same items before anything is timed
        cases = {name: Case(argv, env) for name, (argv, env) in
                 foundation.roster_cases(server, users[n], PASSWORD, n).items()}
        samples = interleaved(cases, reps)
        print_samples(f"{server.kind}: roster list of {n} (start, login, fetch, print, close)", samples)
        ctl, floor = list(samples)
        table.add(f"roster list ({n})", server.kind, "xmppctl roster list -o json", samples[ctl],
                  "bare slixmpp script", samples[floor], GOALS["roster list"])


# ---- row 5: roster import ---------------------------------------------------------------------

def bench_import_rows(table: Table, server, work: Path, items: int, reps: int) -> None:
    bench = bench_import.Bench(server, work, items)
    times = bench.import_run(reps, second_import=False)
    ctl, floor = list(times)[:2]
    as_sample = {name: Sample(times[name], bench_import.CPU[name][-len(times[name]):]) for name in (ctl, floor)}
    table.add(f"roster import ({items})", server.kind, "xmppctl roster import", as_sample[ctl],
              "bare slixmpp, pipelined (32)", as_sample[floor], GOALS["roster import"])


def on_server(table: Table, server, work: Path, args) -> None:
    t0 = time.perf_counter()
    server.start()
    print(f"\n#### {server.kind} {server.domain} on 127.0.0.1:{server.port} (up in {time.perf_counter() - t0:.1f} s), "
          f"load {load()}")
    try:
        if args.only in (None, "roster"):
            bench_roster(table, server, args.sizes, args.reps)
        if args.only in (None, "import") and (server.kind == "ejabberd" or args.import_prosody):
            bench_import_rows(table, server, work, args.import_items, args.import_reps)
    finally:
        server.stop()


def make_server(kind: str, work: Path):
    # Domains of our own: other benchmarks and test runs may share the machine.
    if kind == "prosody":
        return devserver.ProsodyServer(work / "prosody", domain=f"xs{os.getpid()}.test")
    if not devserver.have("ejabberdctl"):
        return None
    return devserver.EjabberdServer(work / "ejabberd", domain=f"xse{os.getpid()}.test")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="timed runs per case of roster list")
    parser.add_argument("--help-reps", type=int, default=31, help="timed runs per case of --help and the usage error")
    parser.add_argument("--import-reps", type=int, default=5, help="imports of each kind (each registers an account)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000], help="roster sizes for roster list")
    parser.add_argument("--import-items", type=int, default=1000)
    parser.add_argument("--servers", nargs="+", choices=("prosody", "ejabberd"), default=["prosody", "ejabberd"])
    parser.add_argument("--import-prosody", action="store_true", help="also the import row on Prosody (slow)")
    parser.add_argument("--only", choices=("help", "roster", "import"), help="run one part only")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    import typer

    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {platform.machine()}, {os.cpu_count()} CPUs; "
          f"python {platform.python_version()}, typer {typer.__version__}; load {load()}")
    print(f"xmppctl = {' '.join(foundation.xmppctl_argv())}")
    table = Table()
    if args.only in (None, "help"):
        bench_help(table, args.help_reps)
    work = Path(tempfile.mkdtemp(prefix="xmppctl-bench-startup-"))
    os.chmod(work, 0o755)  # ejabberdctl runs the node as the 'ejabberd' user: the tree must be traversable
    try:
        for kind in args.servers if args.only != "help" else ():
            server = make_server(kind, work)
            if server is None:
                table.check("all", kind, "skipped: ejabberdctl is not installed", False)
                continue
            on_server(table, server, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n== summary: medians, A and B interleaved (help n={args.help_reps}, roster list n={args.reps}, "
          f"import n={args.import_reps}); "
          f"load = 1-min load average after the row\n")
    print(table.render())
    print(f"\nload average at end: {load()}; whole run {time.perf_counter() - started:.0f} s; "
          f"all goals {'met' if table.ok else 'NOT met'}")
    return 0 if table.ok else 1


if __name__ == "__main__":
    sys.exit(main())
