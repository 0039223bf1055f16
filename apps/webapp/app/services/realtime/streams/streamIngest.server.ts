/**
 * The v1 writer's body (`POST /realtime/v1/streams/:runId/:target/:key`): newline-delimited JSON, one
 * chunk per line, sent for as long as the writer has chunks. A read's complete lines are appended as
 * one batch; what arrives meanwhile waits and goes as the next batch once they are stored, so a body
 * has one append in flight at a time and Redis paces the writer. A line is
 * stored only once its newline arrived (or the body ended cleanly after it): a writer that dies
 * mid-line leaves no torn chunk. While the body is open the stream counts as having a live writer.
 *
 * A pipe is a sequence of appends: a line that is not JSON, or a chunk past a cap, stops the body with
 * a 4xx; the lines before it stay stored.
 */
import { HttpError, badRequest } from "../../httpErrors.server";
import type { StreamLimits, StreamRef, StreamStore } from "./streamStore.server";

export interface IngestOptions {
  store: StreamStore;
  ref: StreamRef;
  limits: StreamLimits & { maxChunkBytes: number };
  /** With a client id, line i has chunk index firstIndex + i and a retried index is not stored twice. */
  writer?: { clientId: string; firstIndex: number };
  /** How often an open body marks the stream as having a live writer. */
  leaseIntervalMs: number;
  onWritten?: (chunks: number) => void;
}

export interface IngestResult {
  written: number;
  skipped: number;
}

const NEWLINE = 0x0a;

export async function ingestNdjson(body: AsyncIterable<Uint8Array>, options: IngestOptions): Promise<IngestResult> {
  const { store, ref, limits } = options;
  const lease = setInterval(() => void store.touch(ref).catch(() => {}), options.leaseIntervalMs);
  let carry: Buffer | undefined;
  let index = options.writer?.firstIndex ?? 0;
  let lineNumber = 0;
  const result: IngestResult = { written: 0, skipped: 0 };

  const appendLines = async (lines: Buffer[]) => {
    const chunks: string[] = [];
    for (const line of lines) {
      lineNumber++;
      const text = line.toString("utf8").replace(/\r$/, "");
      if (text.trim() === "") continue;
      const problem =
        line.byteLength > limits.maxChunkBytes
          ? chunkTooLarge(limits.maxChunkBytes, lineNumber)
          : isJson(text)
            ? undefined
            : badRequest(`Invalid stream body: line ${lineNumber} is not JSON (each line must be one JSON value)`);
      if (problem) {
        await flush(chunks);
        throw problem;
      }
      chunks.push(text);
    }
    await flush(chunks);
  };

  const flush = async (chunks: string[]) => {
    if (chunks.length === 0) return;
    const writer = options.writer ? { clientId: options.writer.clientId, firstIndex: index } : undefined;
    const outcome = await store.append(ref, chunks, limits, writer);
    index += chunks.length;
    chunks.length = 0;
    result.written += outcome.written;
    if (outcome.written > 0) options.onWritten?.(outcome.written);
    if (outcome.kind === "ok") result.skipped += outcome.skipped;
    if (outcome.kind === "finished") throw runFinished();
    if (outcome.kind === "too-large") throw capReached(outcome.cap, limits);
  };

  /** The complete lines of one read; the rest is carried to the next. */
  const take = (value: Uint8Array): Promise<void> | undefined => {
    const buffer = carry
      ? Buffer.concat([carry, value])
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = buffer.indexOf(NEWLINE, start); nl !== -1; nl = buffer.indexOf(NEWLINE, start)) {
      lines.push(buffer.subarray(start, nl));
      start = nl + 1;
    }
    carry = start < buffer.length ? Buffer.from(buffer.subarray(start)) : undefined;
    if (carry && carry.byteLength > limits.maxChunkBytes) throw chunkTooLarge(limits.maxChunkBytes, lineNumber + 1);
    return lines.length > 0 ? appendLines(lines) : undefined;
  };

  try {
    await (isNodeReadable(body) ? readNode(body, take, result) : readIterable(body, take, result));
    // The body ended cleanly: a last line without its newline is complete.
    if (carry) await appendLines([carry]);
    return result;
  } finally {
    clearInterval(lease);
  }
}

type NodeReadable = AsyncIterable<Uint8Array> & NodeJS.ReadableStream & { destroy(): void };

function isNodeReadable(body: AsyncIterable<Uint8Array>): body is NodeReadable {
  const candidate = body as Partial<NodeReadable>;
  return (
    typeof candidate.on === "function" &&
    typeof candidate.pause === "function" &&
    typeof candidate.destroy === "function"
  );
}

/** Bytes a node body may queue while its previous lines are appended before it is paused. */
const QUEUED_BYTES = 64 * 1024;

/**
 * A node request (the hot path), read through its 'data' events: one event per read instead of an
 * async iterator's promise and readable.read() round. What arrives while a read's lines are being
 * appended is queued and taken as one batch once they are stored (so a writer that got ahead is
 * caught up with one append, not one per read); past QUEUED_BYTES the request is paused.
 */
function readNode(
  body: NodeReadable,
  take: (value: Uint8Array) => Promise<void> | undefined,
  result: IngestResult,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let queued: Uint8Array[] = [];
    let queuedBytes = 0;
    let busy = false;
    let paused = false;
    let settled = false;
    let ended = false;
    let gone: unknown;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onGone);
      body.off("close", onClose);
      // As an async iterator's return(): let go of the request (its socket, unless it was read to the end).
      body.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    const appended = () => {
      busy = false;
      pump();
    };
    // Takes what is queued; once nothing is, ends (a broken connection is reported after the lines
    // that arrived before it are stored) or reads on.
    const pump = () => {
      while (!busy && !settled) {
        if (queued.length === 0) {
          if (gone !== undefined) finish(new WriterGoneError(result, gone));
          else if (ended) finish();
          else if (paused) {
            paused = false;
            body.resume();
          }
          return;
        }
        const value = queued.length === 1 ? queued[0]! : Buffer.concat(queued);
        queued = [];
        queuedBytes = 0;
        let pending: Promise<void> | undefined;
        try {
          pending = take(value);
        } catch (error) {
          return finish(error);
        }
        if (pending) {
          busy = true;
          pending.then(appended, finish);
        }
      }
    };
    const onData = (value: Uint8Array) => {
      queued.push(value);
      queuedBytes += value.byteLength;
      if (busy && queuedBytes >= QUEUED_BYTES && !paused) {
        paused = true;
        body.pause();
      }
      pump();
    };
    const onEnd = () => {
      ended = true;
      pump();
    };
    const onGone = (error: unknown) => {
      gone ??= error;
      pump();
    };
    const onClose = () => {
      if (!ended) onGone(new Error("aborted"));
    };
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", onGone);
    body.on("close", onClose);
  });
}

/** Any other body (a web stream on Remix's path): its async iterator, one read at a time. */
async function readIterable(
  body: AsyncIterable<Uint8Array>,
  take: (value: Uint8Array) => Promise<void> | undefined,
  result: IngestResult,
): Promise<void> {
  const reader = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const { done, value } = await reader.next().catch((error: unknown) => {
        throw new WriterGoneError(result, error);
      });
      if (done) return;
      await take(value);
    }
  } finally {
    // Lets go of the body's own iterator (a web stream's reader).
    reader.return?.()?.catch(() => {});
  }
}

/** The writer's connection broke mid-body (it died, or the network did): what was stored stays. */
export class WriterGoneError extends Error {
  override name = "WriterGoneError";
  constructor(
    readonly result: IngestResult,
    cause: unknown,
  ) {
    super(`stream writer went away mid-body (${(cause as Error)?.message ?? String(cause)})`, { cause });
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export const runFinished = () =>
  new HttpError(400, { error: "Cannot write to a realtime stream of a finished run" }, { connection: "close" });

function chunkTooLarge(max: number, line: number) {
  return new HttpError(
    413,
    { error: `Stream chunk too large: line ${line} is over ${max} bytes (REALTIME_STREAM_MAX_CHUNK_BYTES)` },
    { connection: "close" },
  );
}

export function capReached(cap: "bytes" | "chunks", limits: StreamLimits) {
  const message =
    cap === "bytes"
      ? `Stream is full: it would exceed ${limits.maxBytes} bytes (REALTIME_STREAM_MAX_BYTES); the chunks before this one are stored`
      : `Stream is full: it would exceed ${limits.maxChunks} chunks (REALTIME_STREAM_MAX_CHUNKS); the chunks before this one are stored`;
  return new HttpError(413, { error: message, cap }, { connection: "close" });
}
