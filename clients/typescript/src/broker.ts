// Publishing on Redis: one LPUSH per message, its promise awaited, so a caller learns whether
// the broker took the message before it answers its own user.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { encode, type Json } from "./protocol.js";
import { BrokerError } from "./errors.js";

/** Celery's default queue: the worker takes asked-for work from it (docs/scaling.md). */
export const DEFAULT_QUEUE = "celery";

export interface Publisher {
  /** Publish task `name` with keyword arguments `kwargs`; resolves with the task id once
   * the broker holds the message. */
  publish(name: string, kwargs: Record<string, Json | undefined>): Promise<string>;
  close(): Promise<void>;
}

export interface RedisPublisherOptions {
  queue?: string;
  /** The `origin` header Flower shows; default `gateway@<hostname>`. */
  origin?: string;
  /** How long one publish may wait for Redis before it fails; default 5000 ms. */
  timeoutMs?: number;
}

export class RedisPublisher implements Publisher {
  readonly #redis: Redis;
  readonly #queue: string;
  readonly #origin: string;

  constructor(url: string, options: RedisPublisherOptions = {}) {
    if (!/^rediss?:\/\//.test(url)) {
      throw new BrokerError(`the broker URL must start with redis:// or rediss://, not ${url.split(":")[0]}:`);
    }
    const timeout = options.timeoutMs ?? 5000;
    this.#redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeout,
      commandTimeout: timeout,
      maxRetriesPerRequest: 1,
    });
    // Errors reach the publish that failed; without a listener ioredis would also log each.
    this.#redis.on("error", () => undefined);
    this.#queue = options.queue ?? DEFAULT_QUEUE;
    this.#origin = options.origin ?? `gateway@${hostname()}`;
  }

  async publish(name: string, kwargs: Record<string, Json | undefined>): Promise<string> {
    const taskId = randomUUID();
    const message = encode({ name, taskId, kwargs, origin: this.#origin, queue: this.#queue });
    try {
      await this.#redis.lpush(this.#queue, message);
    } catch (error: unknown) {
      const said = error instanceof Error ? error.message : String(error);
      throw new BrokerError(`sending ${name} failed: the broker could not be reached (${said})`);
    }
    return taskId;
  }

  async close(): Promise<void> {
    if (this.#redis.status === "ready") {
      await this.#redis.quit();
    } else {
      this.#redis.disconnect();
    }
  }
}
