"""Readers of monitoring output written from the specifications, not from our formatters.

- :func:`parse_plugin_output`: the monitoring-plugins development guidelines, "Plugin Output"
  and "Performance data": ``TEXT | 'label'=value[UOM];[warn];[crit];[min];[max] ...`` on the
  first line, long output after it; labels may be quoted with ``'`` (``''`` for a quote);
  UOM one of none, s/ms/us, %, B/KB/MB/TB, c; warn/crit in range format; min/max numbers.
- :func:`parse_exposition`: the Prometheus text exposition format 0.0.4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UOMS = ("", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c")
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE = re.compile(rf"^@?(?:(?:~|{_NUMBER})?:)?(?:{_NUMBER})?$")
_VALUE = re.compile(rf"^({_NUMBER})([a-zA-Z%]*)$")


@dataclass
class Perf:
    label: str
    value: float
    uom: str
    warn: str
    crit: str
    min: str
    max: str


@dataclass
class PluginOutput:
    service_state: str  #: "XMPP LOGIN OK" etc.: the status line's text before " - "
    text: str
    perf: dict[str, Perf]
    long: list[str]


def _split_perf(data: str) -> list[str]:
    items, i = [], 0
    while i < len(data):
        if data[i] == " ":
            i += 1
            continue
        if data[i] == "'":  # a quoted label: up to the closing quote ('' is a quote)
            j = i + 1
            while True:
                j = data.index("'", j)
                if data[j:j + 2] == "''":
                    j += 2
                    continue
                break
            end = data.find(" ", j)
        else:
            end = data.find(" ", i)
        end = len(data) if end < 0 else end
        items.append(data[i:end])
        i = end
    return items


def _perf(item: str) -> Perf:
    label, sep, rest = item.rpartition("=")
    assert sep, f"no '=' in performance datum {item!r}"
    if label.startswith("'"):
        assert label.endswith("'") and len(label) >= 2, f"unbalanced quotes in {item!r}"
        label = label[1:-1].replace("''", "'")
    else:
        assert " " not in label and "'" not in label, f"unquoted label with a space or quote: {item!r}"
    fields = rest.split(";")
    assert 1 <= len(fields) <= 5, f"too many fields in {item!r}"
    fields += [""] * (5 - len(fields))
    m = _VALUE.match(fields[0])
    assert m, f"bad value in {item!r}"
    assert m.group(2) in UOMS, f"unknown UOM {m.group(2)!r} in {item!r}"
    for threshold in fields[1:3]:
        assert _RANGE.match(threshold), f"bad threshold range {threshold!r} in {item!r}"
    for bound in fields[3:5]:
        assert bound == "" or re.fullmatch(_NUMBER, bound), f"bad min/max {bound!r} in {item!r}"
    return Perf(label, float(m.group(1)), m.group(2), *fields[1:5])


def parse_plugin_output(stdout: str) -> PluginOutput:
    lines = stdout.splitlines()
    assert lines, "no output"
    first, _, perfdata = lines[0].partition("|")
    state, sep, text = first.partition(" - ")
    assert sep, f"no ' - ' in the status line {lines[0]!r}"
    perf = {}
    for item in _split_perf(perfdata.strip()):
        p = _perf(item)
        perf[p.label] = p
    for line in lines[1:]:
        assert "|" not in line, f"a '|' in long output starts performance data: {line!r}"
    return PluginOutput(state.strip(), text.strip(), perf, lines[1:])


# ---- Prometheus text format 0.0.4 -------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], value)


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a document: (name, sorted labels) -> value.  Asserts the format's rules:
    a HELP and a TYPE line before a metric's samples, its samples together, no timestamps."""
    samples: dict = {}
    typed: dict[str, str] = {}
    helped: set[str] = set()
    finished: set[str] = set()
    current = None
    assert text.endswith("\n"), "a document ends with a line feed"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ", 3)[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            assert name not in typed, f"second TYPE line for {name}"
            typed[name] = kind
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line (a timestamp?): {line!r}"
        name, body, value = m.groups()
        family = name
        for suffix in ("_sum", "_count", "_bucket"):  # the series of a summary or histogram
            if name not in typed and name.endswith(suffix) and typed.get(name[:-len(suffix)]) in ("summary", "histogram"):
                family = name[:-len(suffix)]
        assert family in typed and family in helped, f"{name}: sample before its HELP/TYPE"
        assert family not in finished, f"{name}: samples not together"
        if current is not None and current != family:
            finished.add(current)
        current = family
        labels = []
        pos = 0
        while body and pos < len(body):
            lm = _LABEL.match(body, pos)
            assert lm, f"bad labels in {line!r}"
            labels.append((lm.group(1), _unescape(lm.group(2))))
            pos = lm.end()
        key = (name, tuple(sorted(labels)))
        assert key not in samples, f"duplicate series {key}"
        samples[key] = float(value)
    return samples
