"""Monitoring output: the plugin status line with performance data, and Prometheus metrics.

Pure: strings in, strings out.  The plugin line follows the monitoring-plugins guidelines
(``SERVICE STATE - summary | 'label'=value[UOM];[warn];[crit];[min];[max] ...``, then long
output lines); the metrics follow the Prometheus text exposition format 0.0.4 (``# HELP``,
``# TYPE``, one sample per line, label values escaped, no timestamps: node_exporter's textfile
collector refuses files with client timestamps).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import CheckResult, PerfDatum
from .output import safe_text

PLUGIN_PREFIX = "XMPP"

# ---- the plugin line ----------------------------------------------------------------------


def _plugin_text(text: str) -> str:
    """Remote or free text made safe for a status or long-output line: no control characters
    (a newline would start a line of its own), no ``|`` (it starts the performance data)."""
    return safe_text(text).replace("|", "/")


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def perf_label(label: str) -> str:
    """A label as the guidelines want it: quoted when it holds a space, ``'`` doubled; ``=`` cannot
    appear (it ends the label) and becomes ``_``."""
    label = label.replace("=", "_")
    if re.search(r"[\s']", label):
        return "'" + label.replace("'", "''") + "'"
    return label


def perf_text(p: PerfDatum) -> str:
    """``label=value[UOM];[warn];[crit];[min];[max]`` with trailing empty fields dropped."""
    fields = [f"{_number(p.value)}{p.uom}", p.warn or "", p.crit or "", _number(p.min), _number(p.max)]
    while len(fields) > 1 and fields[-1] == "":
        fields.pop()
    return f"{perf_label(p.label)}=" + ";".join(fields)


def plugin_output(result: CheckResult) -> str:
    """The whole plugin output: the status line, then one line per long-output entry."""
    line = f"{PLUGIN_PREFIX} {result.service} {result.status.name} - {_plugin_text(result.summary)}"
    if result.perfdata:
        line += " | " + " ".join(perf_text(p) for p in result.perfdata)
    return "\n".join([line, *(_plugin_text(x) for x in result.long)]) + "\n"


# ---- Prometheus ---------------------------------------------------------------------------

#: every metric we write: name -> (HELP, TYPE).  The HELP of a metric must be the same in every
#: file node_exporter reads, so it is fixed here.
METRICS: dict[str, tuple[str, str]] = {
    "xmppctl_login_success": ("1 if the account logged in (TLS, SASL, bind), 0 if it failed.", "gauge"),
    "xmppctl_login_duration_seconds": ("Time from connecting to a bound session, in seconds.", "gauge"),
    "xmppctl_tls_certificate_expiry_timestamp_seconds": (
        "notAfter of the TLS certificate the server presented, as a Unix time.", "gauge"),
    "xmppctl_contact_up": ("1 if the contact has an online resource, 0 otherwise.", "gauge"),
    "xmppctl_contact_show": ("1 for the show of the contact's best online resource; all 0 when it is not online.", "gauge"),
    "xmppctl_roster_contacts": ("Roster items by subscription state.", "gauge"),
    "xmppctl_subscription_requests_pending": (
        "Subscription requests not answered yet; direction out: ours, still pending (roster ask).", "gauge"),
}
#: the values of ``show`` in xmppctl_contact_show (a state set: one series per value)
SHOW_VALUES = ("available", "chat", "away", "xa", "dnd")
SUBSCRIPTION_VALUES = ("none", "to", "from", "both")


def escape_label_value(value: str) -> str:
    """Text format 0.0.4: backslash, double quote and line feed escaped in a label value."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """Text format 0.0.4: backslash and line feed escaped in a HELP text."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass
class MetricsDocument:
    """Samples collected per metric, written as one document with each metric's lines together."""

    samples: dict[str, list[tuple[tuple[tuple[str, str], ...], float]]] = field(default_factory=dict)

    def add(self, name: str, labels: Mapping[str, str], value: float) -> None:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}")
        self.samples.setdefault(name, []).append((tuple(labels.items()), value))

    def text(self) -> str:
        lines: list[str] = []
        for name, (help_, type_) in METRICS.items():
            if name not in self.samples:
                continue
            lines.append(f"# HELP {name} {escape_help(help_)}")
            lines.append(f"# TYPE {name} {type_}")
            for labels, value in self.samples[name]:
                pairs = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
                lines.append(f"{name}{{{pairs}}} {format_value(value)}" if pairs else f"{name} {format_value(value)}")
        return "\n".join(lines) + "\n" if lines else ""


def add_login(doc: MetricsDocument, account: str, *, success: bool, seconds: float | None = None,
              not_after: float | None = None) -> None:
    """login_success always; the duration and the certificate expiry when known."""
    labels = {"account": account}
    doc.add("xmppctl_login_success", labels, 1 if success else 0)
    if success and seconds is not None:
        doc.add("xmppctl_login_duration_seconds", labels, round(seconds, 6))
    if success and not_after is not None:
        doc.add("xmppctl_tls_certificate_expiry_timestamp_seconds", labels, not_after)


def add_contacts(doc: MetricsDocument, account: str, rows: Sequence[Any], jids: Iterable[str] | None = None) -> None:
    """contact_up and the contact_show state set for each contact of the probe *rows*
    (PresenceRow; a contact's first online row is its best resource), in *jids* order if given."""
    order: dict[str, Any] = {}
    for row in rows:
        order.setdefault(row.jid, None)
        if row.state == "online" and order[row.jid] is None:
            order[row.jid] = row.show or "available"
    for jid in jids if jids is not None else list(order):
        show = order.get(jid)
        doc.add("xmppctl_contact_up", {"account": account, "jid": jid}, 0 if show is None else 1)
        for value in SHOW_VALUES:
            doc.add("xmppctl_contact_show", {"account": account, "jid": jid, "show": value}, 1 if show == value else 0)


def add_roster(doc: MetricsDocument, account: str, items: Iterable[Any]) -> None:
    """roster_contacts per subscription state (every state, 0 included) and our pending requests."""
    counts = dict.fromkeys(SUBSCRIPTION_VALUES, 0)
    asked = 0
    for item in items:
        counts[item.subscription] = counts.get(item.subscription, 0) + 1
        asked += bool(item.ask)
    for sub, n in counts.items():
        doc.add("xmppctl_roster_contacts", {"account": account, "subscription": sub}, n)
    doc.add("xmppctl_subscription_requests_pending", {"account": account, "direction": "out"}, asked)
