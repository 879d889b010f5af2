"""Benchmarks (``make bench``): orchestration overhead, throughput under concurrency, model calls per task.

Run ``python -m benchmarks`` (``--help`` lists the options); results go to ``benchmarks/results.json`` and
``benchmarks/RESULTS.md``. ``python -m benchmarks --profile`` profiles the hot path instead (see ``PROFILE.md``).
"""
