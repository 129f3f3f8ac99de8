"""The names of the output formats (``-o``, and an account's ``output`` setting): a constant of
its own, so that both the config reader and the renderers share it without importing each
other (and ``--help`` imports neither more than it needs)."""

#: what -o (and an account's `output` setting) may name
OUTPUT_FORMATS = ("table", "json", "ndjson", "csv")
