// The public tasks, typed from the contract's generated types.
import type { Contract, JobRow } from "./generated/contract.js";

type Tasks = Contract["tasks"];

/** Every public task's name ("backups.create", ...). */
export type TaskName = keyof Tasks;
/** Task `N`'s keyword arguments: the only way a task takes any. */
export type TaskArguments<N extends TaskName> = Tasks[N]["arguments"];
/** What task `N` returns in the worker (never read back: the gateway reads the jobs row). */
export type TaskResult<N extends TaskName> = Tasks[N]["result"];

/** The tasks that run under a jobs row the caller may insert first, and that row's type. */
export const JOB_TYPES = {
  "backups.create": "backup",
  "backups.restore": "restore",
  "backups.undo_restore": "restore",
  "backups.verify": "verify",
} as const satisfies Partial<Record<TaskName, JobRow["type"]>>;

export type JobTaskName = keyof typeof JOB_TYPES;
