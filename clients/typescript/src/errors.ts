// The package's errors: each says what went wrong and carries what the caller needs to act.
import type { JobRow } from "./generated/contract.js";

export class BackupWorkerError extends Error {
  override readonly name: string = "BackupWorkerError";
}

/** The broker did not take a message. A pending row inserted for it is failed already. */
export class BrokerError extends BackupWorkerError {
  override readonly name = "BrokerError";
}

/** A job ended `failed` or `cancelled`; `job` is its final row, `job.error` says why. */
export class JobFailedError extends BackupWorkerError {
  override readonly name = "JobFailedError";
  readonly job: JobRow & { status: "failed" | "cancelled" };

  constructor(job: JobRow & { status: "failed" | "cancelled" }) {
    super(`job ${job.id} ${job.status}: ${job.error ?? "no reason given"}`);
    this.job = job;
  }
}

/** Waiting ran out before the job ended; the job goes on (read it again later). */
export class JobTimeoutError extends BackupWorkerError {
  override readonly name = "JobTimeoutError";
  readonly jobId: string;
  readonly last: JobRow | null;

  constructor(jobId: string, timeoutMs: number, last: JobRow | null) {
    const where = last === null ? "no row yet" : `${last.status}, ${last.stage ?? "no stage"} ${last.progress}%`;
    super(`job ${jobId} did not finish within ${timeoutMs} ms (${where}); it goes on`);
    this.jobId = jobId;
    this.last = last;
  }
}

/** No row where one was expected (an unknown job id, a record the worker never made). */
export class NotFoundError extends BackupWorkerError {
  override readonly name = "NotFoundError";
}
