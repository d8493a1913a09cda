"""Benchmarks of the inventory provider against the sandbox on loopback.

Run ``python -m benchmarks.run`` (``make bench``) for the full figures, ``--smoke`` for a quick
correctness-only pass (``make bench-smoke``, run by CI), ``--only NAME`` for one scenario.
Each scenario lives in its own module; the measured work runs in fresh child processes
(``python -m benchmarks.child``) and the sandbox in a process of its own, so neither the
server nor the harness inflates the memory being measured. ``benchmarks/README.md`` holds the
latest figures.
"""
