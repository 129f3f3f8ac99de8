#!/usr/bin/env python3
"""Foundation benchmark: xmppctl against its floors, measured side by side in one run.

1. ``xmppctl --help`` vs ``--help`` of a one-command typer app with default settings
   (bench/floor_typer_app.py): the framework's floor.  Target: ratio <= 1.25.
2. ``xmppctl roster list -o json`` on a 1000-item roster (seeded on a throwaway Prosody) vs a
   bare slixmpp script that connects, fetches the same roster and prints it as JSON
   (bench/floor_slixmpp_roster.py): the library's floor.  Target: ratio <= 1.3.
   Also ``xmppc -m roster list`` on the same server when xmppc is installed (run through
   ../shared/xmppbench/peer.sh, which gives it a loopback DNS stub for the SRV lookup and
   SSL_CERT_FILE for the CA; peer.sh's own overhead is measured and subtracted).

Runs are interleaved (A, B, A, B, ...) so that load from other processes on a shared machine
hits both sides alike; the median of --reps runs is reported.  Exit status 0 when both
targets are met, 1 otherwise (so CI can run it, but it is not part of the test suite).

    python3 bench/bench_foundation.py [--reps 9] [--items 1000] [--no-xmppc]
"""

from __future__ import annotations

import argparse
import atexit
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
# every child (xmppctl_argv's script, floors) imports this checkout, whatever is installed
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

from tests.support import Contact, ProsodyServer  # noqa: E402

PEER_SH = ROOT.parent / "shared" / "xmppbench" / "peer.sh"
HELP_TARGET = 1.25
ROSTER_TARGET = 1.3


def xmppctl_argv() -> list[str]:
    """The ``xmppctl`` console script of this checkout, as pip would generate it from pyproject.toml.

    Not the script installed next to the interpreter: that one runs whatever checkout (and
    entry point) was installed last, which need not be this one.  Not ``python -m xmppctl``
    either: runpy is not what users start.  Children import this checkout (PYTHONPATH), and its
    bytecode is compiled first, as pip does on install: under PYTHONDONTWRITEBYTECODE a checkout
    would otherwise be compiled from source on every run (~30 ms of xmppctl's start-up here),
    while the libraries it is compared with have their .pyc files.
    """
    if not _SCRIPT:
        import compileall
        import tomllib

        compileall.compile_dir(ROOT / "xmppctl", quiet=1)

        module, _, func = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["xmppctl"].partition(":")
        path = Path(tempfile.mkdtemp(prefix="xmppctl-script-")) / "xmppctl"
        path.write_text(f"import sys\nfrom {module} import {func}\nif __name__ == '__main__':\n    sys.exit({func}())\n")
        atexit.register(shutil.rmtree, path.parent, ignore_errors=True)
        _SCRIPT.append(str(path))
    return [sys.executable, _SCRIPT[0]]


_SCRIPT: list[str] = []


def run_once(argv: list[str], env: dict | None = None, check: bool = True) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)
    elapsed = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]}... exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return elapsed, proc.stdout


def side_by_side(cases: dict[str, tuple[list[str], dict | None]], reps: int) -> dict[str, list[float]]:
    """Median-ready timings; one warm-up run each (page cache, .pyc), then interleaved runs."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv, env in cases.values():
        run_once(argv, env)
    for _ in range(reps):
        for name, (argv, env) in cases.items():
            times[name].append(run_once(argv, env)[0])
    return times


def fmt_ms(values: list[float]) -> str:
    med = statistics.median(values) * 1000
    return f"{med:7.1f} ms  (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"


def report(title: str, times: dict[str, list[float]], baseline: str, subject: str, target: float) -> bool:
    print(f"\n== {title}")
    for name, values in times.items():
        print(f"  {name:<44} {fmt_ms(values)}")
    ratio = statistics.median(times[subject]) / statistics.median(times[baseline])
    ok = ratio <= target
    print(f"  ratio {subject} / {baseline}: {ratio:.2f}x  (target <= {target}x: {'met' if ok else 'MISSED'})")
    return ok


def help_cases() -> dict[str, tuple[list[str], dict | None]]:
    return {
        "xmppctl --help": (xmppctl_argv() + ["--help"], None),
        "typer floor --help": ([sys.executable, str(HERE / "floor_typer_app.py"), "--help"], None),
    }


def bench_help(reps: int) -> bool:
    times = side_by_side(help_cases(), reps)
    return report("cold --help (process start to exit)", times, "typer floor --help", "xmppctl --help", HELP_TARGET)


def bench_import_costs(reps: int) -> None:
    """Where xmppctl's extra start-up over the slixmpp floor goes (imports only, no network)."""
    py = sys.executable
    steps = {
        "python -c pass": "pass",
        "+ slixmpp, json, ssl (the floor's imports)": "import slixmpp, json, ssl",
        "+ typer + xmppctl.cli": "import slixmpp, json, ssl, typer, xmppctl.cli",
        "+ typer._adapters (pydantic, built per option)": "import slixmpp, json, ssl, typer, xmppctl.cli, typer._adapters",
        "+ xmppctl config/session/roster/output": "import slixmpp, json, ssl, typer, xmppctl.cli, typer._adapters, "
                                                  "xmppctl.config, xmppctl.xmpp.session, xmppctl.roster.items, xmppctl.output",
    }
    times = side_by_side({name: ([py, "-c", code], None) for name, code in steps.items()}, reps)
    print("\n== import cost breakdown (median; each line includes the ones above)")
    for name, values in times.items():
        print(f"  {name:<52} {statistics.median(values) * 1000:7.1f} ms")


def bench_roster(reps: int, n_items: int, want_xmppc: bool) -> bool:
    work = Path(tempfile.mkdtemp(prefix="xmppctl-bench-"))
    # A domain of our own: the peer DNS stub maps one port per domain, shared with other users.
    domain = f"xb{os.getpid()}.test"
    server = ProsodyServer(work / "prosody", domain=domain)
    try:
        server.start()
        password = "bench-secret-1"
        jid = server.register("alice", password)
        contacts = [Contact(f"contact{i:04d}@{domain}", f"Contact {i:04d}", (f"Group {i % 10 + 1}",), "both")
                    for i in range(1, n_items + 1)]
        server.seed_roster("alice", contacts)
        cases = roster_cases(server, jid, password, n_items)
        xmppc_note = None
        if want_xmppc:
            xmppc_note = add_xmppc(cases, server, jid, password, n_items)
        times = side_by_side(cases, reps)
        names = list(cases)
        ok = report(f"roster of {n_items} items on Prosody (login + fetch + print + close)", times,
                    names[1], names[0], ROSTER_TARGET)
        net = xmppc_net(times)
        if net is not None:
            ctl_med = statistics.median(times[names[0]])
            print(f"  xmppc net of peer.sh overhead: {net * 1000:.1f} ms; xmppctl / xmppc: {ctl_med / net:.2f}x")
        if xmppc_note:
            print(f"  xmppc: {xmppc_note}")
        return ok
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def roster_cases(server, jid: str, password: str, n_items: int) -> dict[str, tuple[list[str], dict | None]]:
    """xmppctl and the bare slixmpp floor listing *jid*'s roster, checked to print the same items."""
    env = dict(os.environ, XMPPCTL_PASSWORD=password, XMPP_PASSWORD=password)
    ctl = xmppctl_argv() + ["--jid", jid, "--server", "127.0.0.1", "--port", str(server.port),
                            "--ca-file", str(server.ca_file), "roster", "list", "-o", "json"]
    floor = [sys.executable, str(HERE / "floor_slixmpp_roster.py"), jid, "127.0.0.1", str(server.port),
             str(server.ca_file)]
    # Same answer from both, or the comparison means nothing.
    got_ctl = json.loads(run_once(ctl, env)[1])
    got_floor = json.loads(run_once(floor, env)[1])
    if len(got_ctl) != n_items or got_ctl != got_floor:
        raise RuntimeError(f"outputs differ: xmppctl {len(got_ctl)} items, floor {len(got_floor)} items")
    return {
        f"xmppctl roster list -o json ({n_items})": (ctl, env),
        f"bare slixmpp fetch+json ({n_items})": (floor, env),
    }


def xmppc_net(times: dict[str, list[float]]) -> float | None:
    """xmppc's median minus peer.sh's own (seconds), when add_xmppc added both."""
    name = next((n for n in times if n.startswith("xmppc ")), None)
    if name is None or "peer.sh overhead" not in times:
        return None
    return statistics.median(times[name]) - statistics.median(times["peer.sh overhead"])


def add_xmppc(cases: dict, server, jid: str, password: str, n_items: int) -> str | None:
    """Add xmppc (via peer.sh) to *cases*; return why it was skipped, or None."""
    if not shutil.which("xmppc"):
        return "skipped: not installed (apt-get install xmppc)"
    if not PEER_SH.exists() or not shutil.which("unshare"):
        return f"skipped: needs {PEER_SH} and unshare(1) for the loopback DNS stub (xmppc has no port option)"
    (server.directory / "bench.env").write_text(
        f"BENCH_KIND={server.kind}\nBENCH_DOMAIN={server.domain}\nBENCH_PORT={server.port}\nBENCH_CA={server.ca_file}\n")
    argv = [str(PEER_SH), str(server.directory), "xmppc", "-j", jid, "-p", password, "-m", "roster", "list"]
    try:
        out = run_once(argv)[1]
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"skipped: does not work here: {exc}"
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if len(lines) < n_items:
        return f"skipped: printed {len(lines)} lines, expected {n_items}"
    cases["xmppc -m roster list (via peer.sh)"] = (argv, None)
    cases["peer.sh overhead"] = ([str(PEER_SH), str(server.directory), "true"], None)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9, help="timed runs per command (median reported)")
    parser.add_argument("--items", type=int, default=1000, help="roster size")
    parser.add_argument("--no-xmppc", action="store_true", help="skip the xmppc comparison")
    parser.add_argument("--only", choices=("help", "roster", "imports"), help="run one part only")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"xmppctl = {' '.join(xmppctl_argv())}")
    ok = True
    if args.only in (None, "help"):
        ok &= bench_help(args.reps)
    if args.only in (None, "roster"):
        ok &= bench_roster(args.reps, args.items, not args.no_xmppc)
    if args.only in (None, "imports"):
        bench_import_costs(args.reps)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
