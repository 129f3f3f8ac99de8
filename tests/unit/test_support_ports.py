"""tests/support's free_port: parallel workers never get the same port, nor one the kernel
hands to outgoing connections (ejabberd died with eaddrinuse when they did)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import free_port
from tests.support.common import _ephemeral_low


def test_ports_are_distinct_below_the_ephemeral_range_and_reserved_across_processes():
    ours = [free_port() for _ in range(40)]
    assert len(set(ours)) == len(ours)
    assert all(port < _ephemeral_low() for port in ours)
    code = "import json; from tests.support import free_port; print(json.dumps([free_port() for _ in range(40)]))"
    theirs = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert not set(ours) & set(theirs)
