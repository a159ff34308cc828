// Celery's task message, protocol v2 (JSON), as kombu's Redis transport stores it in a list.
// https://docs.celeryq.dev/en/stable/internals/protocol.html#version-2
import { randomUUID } from "node:crypto";

/** A JSON value, the only kind of argument a task takes. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json | undefined };

export interface TaskMessage {
  name: string;
  taskId: string;
  kwargs: Record<string, Json | undefined>;
  origin: string;
  queue: string;
}

/** The string kombu's Redis transport pushes onto the queue's list for `message`. */
export function encode(message: TaskMessage): string {
  const kwargs = definedOnly(message.kwargs);
  const embed = { callbacks: null, errbacks: null, chain: null, chord: null };
  const body = Buffer.from(JSON.stringify([[], kwargs, embed]), "utf8").toString("base64");
  return JSON.stringify({
    body,
    "content-encoding": "utf-8",
    "content-type": "application/json",
    headers: {
      lang: "js",
      task: message.name,
      id: message.taskId,
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: message.taskId,
      parent_id: null,
      // What Flower and `celery inspect` show: Celery's saferepr of the arguments.
      argsrepr: "()",
      kwargsrepr: pythonRepr(kwargs),
      origin: message.origin,
      ignore_result: true, // the outcome is the jobs row; nobody reads the result backend
    },
    properties: {
      correlation_id: message.taskId,
      reply_to: randomUUID(),
      delivery_mode: 2,
      delivery_info: { exchange: "", routing_key: message.queue },
      priority: 0,
      body_encoding: "base64",
      delivery_tag: randomUUID(),
    },
  });
}

/** The arguments without those left undefined: an omitted argument takes the worker's default. */
export function definedOnly(kwargs: Record<string, Json | undefined>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(kwargs)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** A JSON value as Python's repr shows the same value once decoded (for kwargsrepr). */
export function pythonRepr(value: Json | undefined): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`;
  const items = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .map(([key, item]) => `${pythonString(key)}: ${pythonRepr(item)}`);
  return `{${items.join(", ")}}`;
}

function pythonString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t");
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}
