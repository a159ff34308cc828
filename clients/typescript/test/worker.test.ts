// The package against a real worker, PostgreSQL, Redis and the Bot API stand-in. Started by
// tests/acceptance/contract/test_typescript_client.py, which provides the worker and these
// variables; one worker serves every test here.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, test } from "node:test";
import {
  BackupWorkerClient,
  BrokerError,
  JobFailedError,
  type BackupRow,
  type BatchOutcome,
  type JobRow,
  type SendAndRecordResult,
} from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set: run these tests through tests/acceptance/contract/test_typescript_client.py`);
  }
  return value;
}

const SOURCE_DB = required("BW_SOURCE_DB");
const client = new BackupWorkerClient({
  broker: required("BW_BROKER_URL"),
  database: required("BW_DATABASE_URL"),
  pollIntervalMs: 50,
});
after(() => client.close());
const DAY_MS = 86_400_000;

test("sendAndRecord backs a database up into Telegram and records it; its result is typed", async () => {
  const seen: JobRow[] = [];
  const asked = Date.now();
  const done: SendAndRecordResult = await client.sendAndRecord(
    { projectId: "proj-ts", database: SOURCE_DB, expiresInDays: 3, filename: "nightly-sales", caption: "from ts" },
    { onProgress: (job) => seen.push(job), timeoutMs: 60_000 },
  );
  assert.equal(done.job.status, "completed");
  assert.equal(done.job.progress, 100);
  const { backup } = done;
  assert.equal(backup.project_id, "proj-ts");
  assert.equal(backup.database, SOURCE_DB);
  assert.ok(backup.filename.startsWith("nightly-sales"), backup.filename);
  assert.match(backup.sha256, /^[0-9a-f]{64}$/);
  assert.ok(backup.part_count >= 1);
  assert.equal(backup.parts.length, backup.part_count);
  assert.equal(backup.parts.reduce((sum, part) => sum + part.size_bytes, 0), backup.size_bytes);
  assert.ok(backup.expires_at !== null);
  assert.ok(Math.abs(Date.parse(backup.expires_at) - (asked + 3 * DAY_MS)) < 120_000, backup.expires_at);

  // waitForJob's callback saw the job move forward, once per change, and end completed.
  assert.ok(seen.length >= 2, JSON.stringify(seen.map((job) => [job.status, job.stage, job.progress])));
  assert.ok(seen[0]?.status === "pending" || seen[0]?.status === "running");
  assert.equal(seen.at(-1)?.status, "completed");
  for (const [i, job] of seen.entries()) {
    if (i > 0) assert.ok(job.progress >= (seen[i - 1]?.progress ?? 0), "progress went back");
  }

  // The rows the gateway lists, and the dashboard's figures.
  const row: BackupRow | null = await client.getBackup("proj-ts", backup.id);
  assert.equal(row?.caption, "from ts");
  assert.equal(row?.job_id, done.jobId);
  assert.deepEqual((await client.listBackups({ projectId: "proj-ts" })).map((b) => b.id), [backup.id]);
  assert.equal(await client.getBackup("proj-other", backup.id), null);
  const stats = await client.backupStats("proj-ts");
  assert.deepEqual(
    { total: stats.total, by_type: stats.by_type, by_status: stats.by_status, total_bytes: stats.total_bytes },
    { total: 1, by_type: { database: 1 }, by_status: { active: 1 }, total_bytes: backup.size_bytes },
  );
  assert.equal(stats.expiring_soon, 1); // 3 days away
  assert.deepEqual(stats.latest.map((l) => l.backup_id), [backup.id]);
  const jobs = await client.listJobs({ projectId: "proj-ts" });
  assert.deepEqual(jobs.map((job) => [job.id, job.type, job.status]), [[done.jobId, "backup", "completed"]]);
});

test("a job that fails rejects with JobFailedError, its final row typed", async () => {
  const missing = `bw_missing_${randomUUID().slice(0, 8)}`;
  const failed = await client
    .sendAndRecord({ projectId: "proj-ts-fail", database: missing }, { timeoutMs: 60_000 })
    .then(() => null, (error: unknown) => error);
  assert.ok(failed instanceof JobFailedError, String(failed));
  assert.equal(failed.job.status, "failed");
  assert.equal(failed.job.type, "backup");
  assert.match(failed.job.error ?? "", new RegExp(`database "${missing}" does not exist`));
  assert.equal(failed.job.result?.backup ?? null, null);
});

test("a batch reports each request: completed ones with their backup, failed ones with why", async () => {
  const outcomes: BatchOutcome[] = await client.batchAndWait(
    [
      { projectId: "proj-ts-batch", database: SOURCE_DB, caption: "first" },
      { projectId: "proj-ts-batch", database: SOURCE_DB, filename: "../escape" },
    ],
    { timeoutMs: 60_000 },
  );
  const [good, bad] = outcomes;
  assert.equal(good?.status, "completed", JSON.stringify(good));
  assert.equal(good.backup.project_id, "proj-ts-batch");
  assert.equal(bad?.status, "failed", JSON.stringify(bad));
  assert.match(bad.error, /invalid filename '\.\.\/escape'/);
});

test("recordOnly records parts already in the chat and resolves with the backup's row", async () => {
  const api = `${required("BW_TELEGRAM_API_URL")}/bot${required("BW_TELEGRAM_TOKEN")}`;
  const bytes = Buffer.from(`a dump made elsewhere ${randomUUID()}\n`);
  const form = new FormData();
  form.append("chat_id", required("BW_TELEGRAM_CHAT_ID"));
  form.append("document", new Blob([bytes]), "elsewhere.dump");
  const sent: unknown = await (await fetch(`${api}/sendDocument`, { method: "POST", body: form })).json();
  const message = messageOf(sent);
  const { createHash } = await import("node:crypto");
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const row = await client.recordOnly({
    projectId: "proj-ts-record",
    filename: "elsewhere.dump",
    parts: [{ file_id: message.fileId, message_id: message.messageId, size_bytes: bytes.length, sha256 }],
    compression: "none",
    expiresInDays: 10,
  });
  assert.equal(row.type, "file");
  assert.equal(row.project_id, "proj-ts-record");
  assert.equal(row.size_bytes, bytes.length);
  assert.equal(row.sha256, sha256);
  assert.equal(row.part_count, 1);
});

test("a message the broker does not take rejects, and its pending row ends failed at once", async () => {
  const offline = new BackupWorkerClient({ broker: "redis://127.0.0.1:1/0", database: required("BW_DATABASE_URL") });
  try {
    const refused = await offline
      .createBackup({ project_id: "proj-ts-offline", database: SOURCE_DB })
      .then(() => null, (error: unknown) => error);
    assert.ok(refused instanceof BrokerError, String(refused));
    assert.match(refused.message, /sending backups\.create failed: the broker could not be reached/);
    const [row] = await client.listJobs({ projectId: "proj-ts-offline" });
    assert.equal(row?.status, "failed");
    assert.match(row.error ?? "", /^not queued: sending backups\.create failed/);
  } finally {
    await offline.close();
  }
});

/** The file id and message id of a sendDocument answer. */
function messageOf(answer: unknown): { fileId: string; messageId: number } {
  if (typeof answer === "object" && answer !== null && "result" in answer) {
    const result: unknown = answer.result;
    if (typeof result === "object" && result !== null && "message_id" in result && "document" in result) {
      const document: unknown = result.document;
      const messageId: unknown = result.message_id;
      if (typeof document === "object" && document !== null && "file_id" in document) {
        const fileId: unknown = document.file_id;
        if (typeof fileId === "string" && typeof messageId === "number") return { fileId, messageId };
      }
    }
  }
  throw new Error(`unexpected sendDocument answer: ${JSON.stringify(answer)}`);
}
