// The gateway's client: enqueue the worker's public tasks, read its jobs and backups.
import { randomUUID } from "node:crypto";
import pg from "pg";
import type {
  BackupRow,
  BackupStats,
  BackupSummary,
  CreateBackup,
  JobRow,
  Register,
  RegisterPart,
  RestoreBackup,
  UndoRestore,
  VerifyBackup,
} from "./generated/contract.js";
import { RedisPublisher, type Publisher, type RedisPublisherOptions } from "./broker.js";
import * as db from "./db.js";
import { BackupWorkerError, BrokerError, JobFailedError, JobTimeoutError, NotFoundError } from "./errors.js";
import { definedOnly, type Json } from "./protocol.js";
import { JOB_TYPES, type JobTaskName, type TaskArguments, type TaskName } from "./tasks.js";

export interface ClientOptions {
  /** The worker's broker (CELERY_BROKER_URL), `redis://host:6379/0`; or a Publisher. */
  broker: string | Publisher;
  /** The control plane (the worker's DATABASE_URL), a `postgres://` URL; or the gateway's pool. */
  database: string | db.Queryable;
  /** Options of the Redis publisher made from a broker URL. */
  brokerOptions?: RedisPublisherOptions;
  /** How often waitForJob reads the row; default 500 ms. */
  pollIntervalMs?: number;
}

/** A message sent for a job the caller owns: the row was inserted before the message left. */
export interface Enqueued {
  jobId: string;
  taskId: string;
}

/** A finished job, by its status. */
export type FinishedJob = JobRow & { status: "completed" | "failed" | "cancelled" };

export interface WaitOptions {
  /** Called with the row each time its status, stage or progress changes. */
  onProgress?: (job: JobRow) => void;
  /** Give up after this long (JobTimeoutError; the job goes on). Default: wait for ever. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The options of the original service's sendAndRecord: what to back up, and how to keep it. */
export interface BackupOptions {
  projectId: string;
  database: string;
  /** Days until the backup expires (1-36500); default the worker's BACKUP_RETENTION_DAYS. */
  expiresInDays?: number;
  /** The artifact's file name in the chat (letters, digits, `_`, `.`, `-`). */
  filename?: string;
  /** Extra text under each part's caption in Telegram. */
  caption?: string;
  /** A source server of the worker's registry; default `default`. */
  server?: string;
}

/** A backup done: its job, and the backup as recorded (the job's `result.backup`). */
export interface SendAndRecordResult {
  jobId: string;
  job: JobRow & { status: "completed" };
  backup: BackupSummary;
}

export type BatchReportItem =
  | { index: number; status: "queued"; jobId: string; error: null }
  | { index: number; status: "refused"; jobId: null; error: string };

export type BatchOutcome =
  | { index: number; status: "completed"; jobId: string; backup: BackupSummary; error: null }
  | { index: number; status: "failed" | "cancelled"; jobId: string; backup: null; error: string }
  | { index: number; status: "refused"; jobId: null; backup: null; error: string };

export interface RecordOptions {
  projectId: string;
  filename: string;
  parts: RegisterPart[];
  /** The whole artifact's sha256; may be left out for a single part (its own is used). */
  sha256?: string;
  compression?: "zstd" | "none";
  expiresInDays?: number;
  /** How long to wait for the worker to record it; default 30 000 ms. */
  timeoutMs?: number;
}

export class BackupWorkerClient {
  readonly #publisher: Publisher;
  readonly #db: db.Queryable;
  readonly #ownPool: pg.Pool | null;
  readonly #pollMs: number;

  constructor(options: ClientOptions) {
    this.#publisher =
      typeof options.broker === "string" ? new RedisPublisher(options.broker, options.brokerOptions) : options.broker;
    if (typeof options.database === "string") {
      this.#ownPool = new pg.Pool({ connectionString: options.database, max: 4 });
      this.#db = this.#ownPool;
    } else {
      this.#ownPool = null;
      this.#db = options.database;
    }
    this.#pollMs = options.pollIntervalMs ?? 500;
  }

  /** Close the broker connection, and the pool when the client made it. */
  async close(): Promise<void> {
    await this.#publisher.close();
    await this.#ownPool?.end();
  }

  // ---- Enqueue, one function per public task --------------------------------------------

  /** Send any public task with its keyword arguments; resolves with the task id once the broker
   * holds the message. The job tasks are better sent with their own function below, which
   * inserts the pending row first. */
  async send<N extends TaskName>(name: N, args: TaskArguments<N>): Promise<string> {
    return this.#publisher.publish(name, kwargsOf(args));
  }

  /** backups.create under a pending row inserted first (the job id is the gateway's). */
  createBackup(args: Omit<CreateBackup, "job_id">): Promise<Enqueued> {
    return this.#enqueueJob("backups.create", args, args.project_id);
  }

  /** backups.restore under a pending `restore` row inserted first. `mode` is `new` (the
   * default) or `replace`; `drill` is the worker's own (drills.run) and refused here. */
  async restoreBackup(args: Omit<RestoreBackup, "job_id">): Promise<Enqueued> {
    if (args.mode === "drill") {
      throw new BackupWorkerError("mode 'drill' is internal to the worker: use 'new' or 'replace'");
    }
    return this.#enqueueJob("backups.restore", args, args.project_id);
  }

  /** backups.undo_restore under a pending `restore` row inserted first. */
  undoRestore(args: Omit<UndoRestore, "job_id">): Promise<Enqueued> {
    return this.#enqueueJob("backups.undo_restore", args, args.project_id);
  }

  /** backups.verify under a pending `verify` row inserted first. */
  verifyBackup(args: Omit<VerifyBackup, "job_id">): Promise<Enqueued> {
    return this.#enqueueJob("backups.verify", args, args.project_id);
  }

  /** backups.create_batch as is: the worker queues one job per request, but its report goes
   * only to the result backend, which nobody reads. `batch` below reports to the caller. */
  createBatch(args: TaskArguments<"backups.create_batch">): Promise<string> {
    return this.send("backups.create_batch", args);
  }

  /** backups.register as is (no jobs row to follow); `recordOnly` below waits for the backup. */
  register(args: Register): Promise<string> {
    return this.send("backups.register", args);
  }

  async #enqueueJob<N extends JobTaskName>(
    name: N,
    args: Omit<TaskArguments<N>, "job_id">,
    projectId: string,
  ): Promise<Enqueued> {
    const jobId = randomUUID();
    const kwargs = kwargsOf(args);
    // A backup's arguments go into its row too: the reaper can send it again should a broker
    // restart lose the message (docs/reliability.md, "Known limits"). Only a backup: the worker
    // reads nothing else from a pending row's payload but a drill's mark, which is its own.
    const payload = name === "backups.create" ? kwargs : {};
    await db.insertPendingJob(this.#db, { id: jobId, type: JOB_TYPES[name], projectId, payload });
    try {
      const taskId = await this.#publisher.publish(name, { ...kwargs, job_id: jobId });
      return { jobId, taskId };
    } catch (error: unknown) {
      const said = error instanceof Error ? error.message : String(error);
      await db.failPendingJob(this.#db, jobId, `not queued: ${said}`.slice(0, 500));
      throw error instanceof BrokerError ? error : new BrokerError(said);
    }
  }

  // ---- Jobs --------------------------------------------------------------------------------

  getJob(jobId: string): Promise<JobRow | null> {
    return db.getJob(this.#db, jobId);
  }

  /** A project's recent jobs, newest first (50 by default). */
  listJobs(filter: db.JobFilter): Promise<JobRow[]> {
    return db.listJobs(this.#db, filter);
  }

  /** Poll the job until it ends; resolves with its final row, whatever its status. */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<FinishedJob> {
    const started = Date.now();
    let last: JobRow | null = null;
    for (;;) {
      options.signal?.throwIfAborted();
      const row = await this.getJob(jobId);
      if (row !== null && (last === null || changed(last, row))) options.onProgress?.(row);
      if (row !== null) last = row;
      if (row !== null && isFinished(row)) return row;
      if (options.timeoutMs !== undefined && Date.now() - started >= options.timeoutMs) {
        throw new JobTimeoutError(jobId, options.timeoutMs, last);
      }
      await sleep(this.#pollMs, options.signal);
    }
  }

  // ---- Backups -------------------------------------------------------------------------------

  listBackups(filter: db.BackupFilter): Promise<BackupRow[]> {
    return db.listBackups(this.#db, filter);
  }

  getBackup(projectId: string, backupId: string): Promise<BackupRow | null> {
    return db.getBackup(this.#db, projectId, backupId);
  }

  /** The dashboard's figures, for one project or (without one) for all. */
  backupStats(projectId?: string): Promise<BackupStats> {
    return db.backupStats(this.#db, projectId);
  }

  // ---- The original service's integration API ---------------------------------------------

  /** Back up a database into Telegram and record it; resolves once the backup is recorded.
   * Rejects with JobFailedError (its `job.error` says why) when the worker refused or failed. */
  async sendAndRecord(options: BackupOptions, wait: WaitOptions = {}): Promise<SendAndRecordResult> {
    const { jobId } = await this.createBackup(createArguments(options));
    return completedBackup(await this.waitForJob(jobId, wait));
  }

  /** Record parts already in the chat as a backup of type `file` (backups.register); resolves
   * with its row. The task has no jobs row: a refusal shows only in the worker's log, so this
   * rejects with a NotFoundError after `timeoutMs` that says so. */
  async recordOnly(options: RecordOptions): Promise<BackupRow> {
    const first = options.parts[0];
    if (first === undefined) throw new BackupWorkerError("recordOnly needs at least one part");
    await this.register({
      project_id: options.projectId,
      filename: options.filename,
      parts: options.parts.map((part) => ({ ...part })),
      ...(options.sha256 === undefined ? {} : { sha256: options.sha256 }),
      ...(options.compression === undefined ? {} : { compression: options.compression }),
      ...(options.expiresInDays === undefined ? {} : { expires_in_days: options.expiresInDays }),
    });
    const timeout = options.timeoutMs ?? 30_000;
    const started = Date.now();
    for (;;) {
      const row = await db.backupWithPart(this.#db, options.projectId, first.file_id);
      if (row !== null) return row;
      if (Date.now() - started >= timeout) {
        throw new NotFoundError(
          `no backup of project ${options.projectId} records file ${first.file_id} after ${timeout} ms: ` +
            "the worker refused it (its log says why: ERROR ... backups.register) or is not running",
        );
      }
      await sleep(this.#pollMs);
    }
  }

  /** Many backups at once, each its own job: a refused request refuses only itself. Resolves with
   * one item per request, in order. When the broker goes out of reach the rest are not tried. */
  async batch(requests: BackupOptions[]): Promise<BatchReportItem[]> {
    const items: BatchReportItem[] = [];
    let brokerDown: string | null = null;
    for (const [index, request] of requests.entries()) {
      if (brokerDown !== null) {
        items.push({ index, status: "refused", jobId: null, error: `not tried: ${brokerDown}` });
        continue;
      }
      try {
        const { jobId } = await this.createBackup(createArguments(request));
        items.push({ index, status: "queued", jobId, error: null });
      } catch (error: unknown) {
        const said = error instanceof Error ? error.message : String(error);
        if (error instanceof BrokerError) brokerDown = said;
        items.push({ index, status: "refused", jobId: null, error: `not queued: ${said}` });
      }
    }
    return items;
  }

  /** `batch`, then wait for every queued job: the partial-success report of the original. */
  async batchAndWait(requests: BackupOptions[], wait: Omit<WaitOptions, "onProgress"> = {}): Promise<BatchOutcome[]> {
    const queued = await this.batch(requests);
    return Promise.all(
      queued.map(async (item): Promise<BatchOutcome> => {
        if (item.status === "refused") return { ...item, backup: null };
        const job = await this.waitForJob(item.jobId, wait);
        if (job.status === "completed") {
          return { index: item.index, status: "completed", jobId: item.jobId, backup: completedBackup(job).backup, error: null };
        }
        return { index: item.index, status: job.status, jobId: item.jobId, backup: null, error: job.error ?? job.status };
      }),
    );
  }
}

function createArguments(options: BackupOptions): Omit<CreateBackup, "job_id"> {
  return {
    project_id: options.projectId,
    database: options.database,
    ...(options.expiresInDays === undefined ? {} : { expires_in_days: options.expiresInDays }),
    ...(options.filename === undefined ? {} : { filename: options.filename }),
    ...(options.caption === undefined ? {} : { caption: options.caption }),
    ...(options.server === undefined ? {} : { server: options.server }),
  };
}

function completedBackup(job: FinishedJob): SendAndRecordResult {
  if (job.status !== "completed") throw new JobFailedError({ ...job, status: job.status });
  const backup = job.result?.backup;
  if (backup === undefined || backup === null) {
    throw new BackupWorkerError(`job ${job.id} completed without result.backup: is it a backup job?`);
  }
  return { jobId: job.id, job: { ...job, status: "completed" }, backup };
}

function isFinished(row: JobRow): row is FinishedJob {
  return row.status === "completed" || row.status === "failed" || row.status === "cancelled";
}

function changed(before: JobRow, after: JobRow): boolean {
  return before.status !== after.status || before.stage !== after.stage || before.progress !== after.progress;
}

/** The arguments as JSON keyword arguments (a generated argument type holds JSON values only). */
function kwargsOf<T extends object>(args: T): Record<string, Json> {
  return definedOnly(Object.fromEntries(Object.entries(args)) as Record<string, Json | undefined>);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
