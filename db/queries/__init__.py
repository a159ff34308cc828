"""Queries on the control-plane tables, one module per concern: what the worker reads
and writes, in single statements whose WHERE clauses carry the allowed transitions.

May import db.models, db.schedule_models, db.ledger, db.columns and worker.errors; nothing
else of worker/.
"""

from __future__ import annotations
