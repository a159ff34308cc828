"""The backup job's steps as plain functions: dump, upload, record, and how a job ends.

Also the dump of a database into parts (dump), sending while dumping (overlap), batches and
the send-only/record-only operations. May import worker.jobs, worker.contract, the adapters
(worker.telegram, worker.artifact, worker.postgres), db, worker.errors and worker.settings;
not worker.restore or worker.scheduling (independent siblings), not Celery, worker.app or tasks.
"""

from __future__ import annotations
