"""Measurement: window arithmetic (written once), the harness clock, repeat statistics, warnings."""
