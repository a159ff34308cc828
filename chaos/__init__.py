"""The reliability suite (issue 7): a chaos run of real workers on throwaway services.

`python -m chaos` (or `make chaos`) runs it; tests/acceptance/faults/test_chaos_short.py runs a
short one. Its processes and servers come from the one harness, tests/support.
"""
