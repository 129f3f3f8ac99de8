"""What the wheel ships: the xmppctl package only, no test-server launcher.

The throwaway Prosody/ejabberd launchers (which run prosodyctl, ejabberdctl, erl) live in
tests/support/, which the tests, the benchmarks and the demo import from the checkout.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_MARKS = ("prosodyctl", "ejabberdctl", "apt-get", "subprocess.Popen")


def test_only_the_xmppctl_package_is_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["setuptools"]["packages"]
    assert packages and all(p == "xmppctl" or p.startswith("xmppctl.") for p in packages), packages


def test_no_module_of_the_package_launches_servers():
    offenders = [f"{path.relative_to(ROOT)}: {mark}" for path in sorted((ROOT / "xmppctl").rglob("*.py"))
                 for mark in LAUNCHER_MARKS if mark in path.read_text(encoding="utf-8")]
    assert offenders == []
