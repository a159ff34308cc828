// The control plane's tables, read and written with `pg`. Each row comes back as JSON built by
// PostgreSQL (row_to_json): UUIDs and timestamps as strings, bigints as numbers, as the schema says.
import type { BackupRow, BackupStats, JobRow } from "./generated/contract.js";
import { BACKUP_COLUMNS, JOB_COLUMNS } from "./generated/contract.js";
import type { Json } from "./protocol.js";

/** What the package needs of a `pg.Pool` (or a `pg.Client`): the gateway passes its own. */
export interface Queryable {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

const SCHEMA = "control_plane";
const jobColumns = JOB_COLUMNS.map((c) => `"${c}"`).join(", ");
const backupColumns = BACKUP_COLUMNS.map((c) => `b."${c}"`).join(", ");

export async function insertPendingJob(
  db: Queryable,
  row: { id: string; type: JobRow["type"]; projectId: string; payload: Record<string, Json> },
): Promise<void> {
  await db.query(
    `INSERT INTO ${SCHEMA}.jobs (id, type, project_id, status, payload) VALUES ($1, $2, $3, 'pending', $4)`,
    [row.id, row.type, row.projectId, JSON.stringify(row.payload)],
  );
}

/** Fail a pending row whose message never left (the worker's intake.send_pending does the same):
 * left pending, the reaper would send it again later. */
export async function failPendingJob(db: Queryable, id: string, reason: string): Promise<void> {
  await db.query(
    `UPDATE ${SCHEMA}.jobs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status = 'pending'`,
    [id, reason],
  );
}

export async function getJob(db: Queryable, id: string): Promise<JobRow | null> {
  const found = await db.query<{ row: JobRow }>(
    `SELECT row_to_json(j) AS row FROM (SELECT ${jobColumns} FROM ${SCHEMA}.jobs WHERE id = $1) j`,
    [id],
  );
  return found.rows[0]?.row ?? null;
}

export interface JobFilter {
  projectId: string;
  type?: JobRow["type"];
  status?: JobRow["status"];
  limit?: number;
}

export async function listJobs(db: Queryable, filter: JobFilter): Promise<JobRow[]> {
  const found = await db.query<{ row: JobRow }>(
    `SELECT row_to_json(j) AS row FROM (
       SELECT ${jobColumns} FROM ${SCHEMA}.jobs
       WHERE project_id = $1 AND ($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR status = $3)
       ORDER BY created_at DESC, id DESC LIMIT $4) j`,
    [filter.projectId, filter.type ?? null, filter.status ?? null, filter.limit ?? 50],
  );
  return found.rows.map((r) => r.row);
}

export interface BackupFilter {
  projectId: string;
  status?: BackupRow["status"];
  database?: string;
  limit?: number;
}

export async function listBackups(db: Queryable, filter: BackupFilter): Promise<BackupRow[]> {
  const found = await db.query<{ row: BackupRow }>(
    `SELECT row_to_json(x) AS row FROM (
       SELECT ${backupColumns} FROM ${SCHEMA}.backups b
       WHERE b.project_id = $1 AND ($2::text IS NULL OR b.status = $2)
         AND ($3::text IS NULL OR b.database = $3)
       ORDER BY b.created_at DESC, b.id DESC LIMIT $4) x`,
    [filter.projectId, filter.status ?? null, filter.database ?? null, filter.limit ?? 50],
  );
  return found.rows.map((r) => r.row);
}

export async function getBackup(db: Queryable, projectId: string, id: string): Promise<BackupRow | null> {
  const found = await db.query<{ row: BackupRow }>(
    `SELECT row_to_json(x) AS row FROM (
       SELECT ${backupColumns} FROM ${SCHEMA}.backups b WHERE b.id = $1 AND b.project_id = $2) x`,
    [id, projectId],
  );
  return found.rows[0]?.row ?? null;
}

/** The backup of `projectId` that records the Telegram file `fileId` (a registered part). */
export async function backupWithPart(db: Queryable, projectId: string, fileId: string): Promise<BackupRow | null> {
  const found = await db.query<{ row: BackupRow }>(
    `SELECT row_to_json(x) AS row FROM (
       SELECT ${backupColumns} FROM ${SCHEMA}.backups b
       JOIN ${SCHEMA}.backup_parts p ON p.backup_id = b.id
       WHERE b.project_id = $1 AND p.file_id = $2
       ORDER BY b.created_at DESC LIMIT 1) x`,
    [projectId, fileId],
  );
  return found.rows[0]?.row ?? null;
}

/** The figures of db/queries/stats.py (`backup-worker` reports the same), for every project
 * or for one: counts by status and type over every row; bytes, `expiring_soon` (expiring
 * within 7 days, overdue ones included) and `latest` over active backups only. */
export async function backupStats(db: Queryable, projectId?: string): Promise<BackupStats> {
  const found = await db.query<{ stats: BackupStats }>(
    `WITH scope AS (SELECT * FROM ${SCHEMA}.backups WHERE $1::text IS NULL OR project_id = $1),
          active AS (SELECT * FROM scope WHERE status = 'active'),
          latest AS (
            SELECT DISTINCT ON (project_id) project_id, id AS backup_id, created_at
            FROM active ORDER BY project_id, created_at DESC, id DESC)
     SELECT json_build_object(
       'by_status', COALESCE((SELECT json_object_agg(status, n) FROM
                    (SELECT status, count(*) AS n FROM scope GROUP BY status) s), '{}'::json),
       'by_type', COALESCE((SELECT json_object_agg(type, n) FROM
                  (SELECT type, count(*) AS n FROM scope GROUP BY type) t), '{}'::json),
       'total', (SELECT count(*) FROM scope),
       'total_bytes', (SELECT COALESCE(sum(size_bytes), 0) FROM active),
       'expiring_soon', (SELECT count(*) FROM active WHERE expires_at <= now() + interval '7 days'),
       'latest', COALESCE((SELECT json_agg(json_build_object(
                   'project_id', project_id, 'backup_id', backup_id, 'created_at', created_at,
                   'age_seconds', floor(extract(epoch FROM now() - created_at))::bigint)
                   ORDER BY project_id) FROM latest), '[]'::json)
     ) AS stats`,
    [projectId ?? null],
  );
  const row = found.rows[0];
  if (row === undefined) throw new Error("the stats query returned no row");
  return row.stats;
}
