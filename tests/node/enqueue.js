#!/usr/bin/env node
// The api-gateway's side of the contract: enqueue backups.create with the npm celery-node client.
//
//   CELERY_BROKER_URL=redis://127.0.0.1:6379/0 node enqueue.js --project proj-123 \
//       --database sales [--job-id UUID] [--expires-in-days N] [--caption TEXT]
//
// Prints one JSON line: {"task_id": "...", "job_id": "..." or null}. Without --job-id the worker
// creates the job row itself, with an id derived from the task id.
"use strict";

const celery = require("celery-node");

async function enqueueBackup(client, { projectId, database, jobId, expiresInDays, caption }) {
  // Keyword arguments only (snake_case): backups.create takes no positional argument, so
  // never task.delay(...), which sends its arguments as positional ones.
  const kwargs = { project_id: projectId, database };
  if (jobId) kwargs.job_id = jobId;
  if (expiresInDays) kwargs.expires_in_days = expiresInDays;
  if (caption) kwargs.caption = caption;
  await client.isReady();
  const result = client.createTask("backups.create").applyAsync([], kwargs);
  // sendTask publishes inside a promise it does not return; one turn of the event loop lets
  // that publish reach the connection before the caller disconnects.
  await new Promise((resolve) => setImmediate(resolve));
  return result.taskId;
}

function parseArgs(argv) {
  const names = {
    "--project": "projectId",
    "--database": "database",
    "--job-id": "jobId",
    "--expires-in-days": "expiresInDays",
    "--caption": "caption",
  };
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`unexpected argument ${argv[i]}`);
    options[key] = argv[i + 1];
  }
  if (!options.projectId || !options.database) throw new Error("--project and --database are required");
  if (options.expiresInDays) options.expiresInDays = Number(options.expiresInDays);
  return options;
}

async function main() {
  const broker = process.env.CELERY_BROKER_URL;
  if (!broker) throw new Error("CELERY_BROKER_URL is not set");
  const options = parseArgs(process.argv.slice(2));
  const client = celery.createClient(broker, process.env.CELERY_RESULT_BACKEND || broker);
  try {
    const taskId = await enqueueBackup(client, options);
    process.stdout.write(JSON.stringify({ task_id: taskId, job_id: options.jobId || null }) + "\n");
  } finally {
    await client.disconnect();
  }
}

main().catch((error) => {
  process.stderr.write(`enqueue: ${error.message}\n`);
  process.exit(1);
});
