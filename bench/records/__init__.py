"""Run records: the single source of truth for every measured number."""
