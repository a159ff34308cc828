"""Metrics: the shared counters the workers write, and the Prometheus exporter that reads them.

counters (the Redis hash the Telegram layer counts into, through worker.telegram.counters'
interface), queues (Celery queue depths in Redis), collector (a Prometheus collector that reads
the control-plane database and Redis at scrape time), exporter (the HTTP server of
`backup-worker exporter`).

A layer of its own, below worker.contract and above the adapters: it may import worker.telegram
(for the counter interface), worker.postgres (the dump slots), db and the bottom layer. The jobs
runtime imports it to hand the workers' Telegram clients their counters.
"""

from __future__ import annotations
