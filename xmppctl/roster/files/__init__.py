"""Roster files: read and validate TOML/JSON/CSV rosters (:mod:`.read`), write exports (:mod:`.write`).

A file is parsed and validated *whole* before anything is sent: every error names the file,
the line (TOML, CSV) or the item index (JSON) and the field.  Formats:

- TOML: ``[[contact]]`` tables with ``jid``, ``name``, ``groups`` (a list of strings).
- JSON: a list of objects with the keys of ``roster list -o json``.
- CSV: a header row, then ``jid,name,groups`` with groups separated by ``;``.
- XEP-0227: ``<server-data>`` portable export files, single- or multi-user (:mod:`.xep0227`).

``subscription`` and ``ask`` are accepted in every format as read-only information (exports
carry them) and ignored on import: subscription state is the server's business.
Library modules: they return data, raise :class:`~xmppctl.errors.UsageError`, never print.
"""

from .fields import KNOWN_KEYS, READ_ONLY_KEYS, WRITABLE_KEYS
from .read import (CSV_COLUMNS, FORMATS, STDIN, RosterSource, format_for,
                   load_roster_file, load_roster_source, parse_csv, parse_json, parse_roster_text, parse_toml, read_roster_file,
                   sniff_format)
from .write import backup_path, check_exportable, iter_csv, iter_json, iter_toml, write_backup, write_roster, write_roster_path

__all__ = [
    "CSV_COLUMNS", "FORMATS", "KNOWN_KEYS", "READ_ONLY_KEYS", "STDIN", "WRITABLE_KEYS", "RosterSource", "backup_path",
    "check_exportable", "format_for", "iter_csv", "iter_json", "iter_toml", "load_roster_file", "load_roster_source", "parse_csv",
    "parse_json", "parse_roster_text", "parse_toml", "read_roster_file", "sniff_format", "write_roster",
    "write_backup", "write_roster_path",
]
