"""Log parsers: one module per log format, all yielding the same typed records."""
