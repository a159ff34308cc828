"""Point-in-time recovery: WAL streamed into Telegram, base backups, restore to a time.

lsn (positions and segment names), lease (one streamer per server across the fleet), spool
(pg_receivewal's local directory), receiver (pg_receivewal and the retention slot), store
(artifacts to and from Telegram), bundles, streamer, basebackup, plan (what a target needs),
scratch (a private PostgreSQL in recovery), recover (the restore to a time).

May import worker.jobs, worker.telegram, worker.artifact, worker.postgres, worker.restore's
fetch, db and the bottom layer; nothing above.
"""
