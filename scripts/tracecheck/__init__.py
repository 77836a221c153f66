"""The trace checker of scripts/check-trace.py (spec/TRACES.md)."""
