"""Performance benchmarks of backup-worker: `make bench`, `make bench-large`; docs/benchmarks.md."""
