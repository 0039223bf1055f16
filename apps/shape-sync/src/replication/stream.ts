/**
 * The replication connection: START_REPLICATION on our slot with pgoutput proto 1, XLogData →
 * decoded messages, keepalive replies and standby status updates carrying the flushed LSN.
 */
import pg from "pg";
import { EventEmitter } from "node:events";
import { bigIntToLsn } from "@runfeed/core";
import { DISPLAY_SETTINGS } from "../pg/display-settings.js";
import { quoteIdent } from "../pg/identifiers.js";
import { PgoutputDecoder, type PgoutputMessage } from "./pgoutput.js";

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

export interface ReplicationStreamOptions {
  connectionString: string;
  slot: string;
  publication: string;
  /** Called synchronously for each decoded message, in WAL order. */
  onMessage: (msg: PgoutputMessage, decoder: PgoutputDecoder) => void;
  /** Called with the server's WAL end on keepalives (for idle acknowledgement). */
  onKeepalive?: (walEnd: bigint) => void;
  /** Whether row data of a relation must be decoded (some shape uses the table). */
  wantsRelation?: (oid: number) => boolean;
  statusIntervalMs?: number;
}

export class ReplicationStream extends EventEmitter {
  private client: pg.Client | undefined;
  private decoder: PgoutputDecoder;
  private flushed = 0n;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastSent = -1n;

  constructor(private readonly opts: ReplicationStreamOptions) {
    super();
    this.decoder = new PgoutputDecoder(opts.wantsRelation);
  }

  /** Starts streaming; resolves once START_REPLICATION is accepted. Errors later are emitted as 'error'. */
  async start(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      replication: "database",
    } as pg.ClientConfig);
    this.client = client;
    client.on("error", (e) => this.emit("error", e));
    await client.connect();
    for (const setting of DISPLAY_SETTINGS) await client.query(`SET ${setting}`);
    const connection = (
      client as unknown as {
        connection: EventEmitter & { sendCopyFromChunk(b: Buffer): void; stream: NodeJS.ReadableStream };
      }
    ).connection;
    let isStarted = false;
    const started = new Promise<void>((resolve) =>
      connection.once("replicationStart", () => {
        isStarted = true;
        resolve();
      }),
    );
    connection.on("copyData", ({ chunk }: { chunk: Buffer }) => this.onCopyData(chunk));
    const options = `proto_version '1', publication_names '${this.opts.publication.replace(/'/g, "''")}'`;
    const sql = `START_REPLICATION SLOT ${quoteIdent(this.opts.slot)} LOGICAL 0/0 (${options})`;
    const done = client.query(sql);
    // Failures before the stream started reject start() (the caller retries); later ones are 'error' events.
    done.then(
      () => this.emit("end"),
      (e: Error) => {
        if (isStarted && !this.stopped) this.emit("error", e);
      },
    );
    try {
      await Promise.race([started, done.then(() => Promise.reject(new Error("replication ended before it started")))]);
    } catch (e) {
      this.stopped = true;
      await client.end().catch(() => undefined);
      throw e;
    }
    this.timer = setInterval(() => this.sendStatus(false), this.opts.statusIntervalMs ?? 1000);
    this.timer.unref();
  }

  private onCopyData(chunk: Buffer): void {
    if (chunk[0] === 0x77) {
      // XLogData: w, Int64 walStart, Int64 walEnd, Int64 time, payload
      const msg = this.decoder.decode(chunk.subarray(25));
      this.opts.onMessage(msg, this.decoder);
    } else if (chunk[0] === 0x6b) {
      // Primary keepalive: k, Int64 walEnd, Int64 time, Byte1 reply
      const walEnd = chunk.readBigUInt64BE(1);
      this.opts.onKeepalive?.(walEnd);
      if (chunk[17] === 1) this.sendStatus(true);
    }
  }

  /** Allows start() again after a failed start. */
  reset(): void {
    this.stopped = false;
    this.client = undefined;
    this.decoder = new PgoutputDecoder(this.opts.wantsRelation);
  }

  /** Everything up to `lsn` is durably stored; the slot may advance to it. */
  acknowledge(lsn: bigint): void {
    if (lsn > this.flushed) this.flushed = lsn;
  }

  get flushedLsn(): bigint {
    return this.flushed;
  }

  private sendStatus(force: boolean): void {
    const connection = (this.client as unknown as { connection?: { sendCopyFromChunk(b: Buffer): void } } | undefined)
      ?.connection;
    if (!connection || this.stopped) return;
    if (!force && this.flushed === this.lastSent) return;
    this.lastSent = this.flushed;
    const buf = Buffer.alloc(34);
    buf[0] = 0x72; // 'r'
    buf.writeBigUInt64BE(this.flushed, 1);
    buf.writeBigUInt64BE(this.flushed, 9);
    buf.writeBigUInt64BE(this.flushed, 17);
    buf.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    buf[33] = 0;
    try {
      connection.sendCopyFromChunk(buf);
    } catch (e) {
      this.emit("error", e);
    }
  }

  /** Sends a status update now (used right after a durable write). */
  flushStatus(): void {
    this.sendStatus(false);
  }

  pause(): void {
    (this.client as unknown as { connection?: { stream?: { pause(): void } } })?.connection?.stream?.pause();
  }

  resume(): void {
    (this.client as unknown as { connection?: { stream?: { resume(): void } } })?.connection?.stream?.resume();
  }

  describe(): string {
    return `${this.opts.slot} from ${bigIntToLsn(this.flushed)}`;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.sendStatus(true);
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      const socket = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
      socket?.destroy();
    }
  }
}
