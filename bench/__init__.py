"""Benchmarks for the foundation: `python -m bench` (make bench).

One run starts its own broker and membership service on fresh state under a temp
dir, measures every figure, and prints one `BENCH <name> value=... unit=...` line
per figure. See bench/__main__.py for the figures and options.
"""
