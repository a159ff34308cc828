// The message as kombu's Redis transport and Celery's protocol v2 expect it (no services).
import assert from "node:assert/strict";
import { test } from "node:test";
import { encode, pythonRepr } from "../src/protocol.js";

test("a message carries keyword arguments only, with the headers Celery's own client sets", () => {
  const raw = encode({
    name: "backups.create",
    taskId: "5b1c6c1e-6f7a-4a43-9d8e-0c0d3c8f4a11",
    kwargs: { project_id: "proj-1", database: "sales", caption: undefined },
    origin: "gateway@host",
    queue: "celery",
  });
  const envelope: unknown = JSON.parse(raw);
  assert.ok(typeof envelope === "object" && envelope !== null && "body" in envelope && "headers" in envelope);
  assert.ok(typeof envelope.body === "string");
  const body: unknown = JSON.parse(Buffer.from(envelope.body, "base64").toString("utf8"));
  assert.deepEqual(body, [
    [],
    { project_id: "proj-1", database: "sales" },
    { callbacks: null, errbacks: null, chain: null, chord: null },
  ]);
  assert.deepEqual(envelope.headers, {
    lang: "js",
    task: "backups.create",
    id: "5b1c6c1e-6f7a-4a43-9d8e-0c0d3c8f4a11",
    shadow: null,
    eta: null,
    expires: null,
    group: null,
    group_index: null,
    retries: 0,
    timelimit: [null, null],
    root_id: "5b1c6c1e-6f7a-4a43-9d8e-0c0d3c8f4a11",
    parent_id: null,
    argsrepr: "()",
    kwargsrepr: "{'project_id': 'proj-1', 'database': 'sales'}",
    origin: "gateway@host",
    ignore_result: true,
  });
});

test("kwargsrepr reads as Python's repr of the same arguments", () => {
  assert.equal(
    pythonRepr({ a: null, b: true, c: [1, 2.5], d: "it's", e: "x'\"y\n" }),
    `{'a': None, 'b': True, 'c': [1, 2.5], 'd': "it's", 'e': 'x\\'"y\\n'}`,
  );
});
