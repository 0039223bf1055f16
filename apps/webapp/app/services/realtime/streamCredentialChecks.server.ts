/**
 * Open event streams re-checked against their credential (docs/decisions/072-realtime-sse-and-cheap-repoll.md).
 * A stream is authenticated when it opens; without this, a rolled signing key, a revoked key or an
 * archived environment would reach a client holding a stream only when the stream next reconnects
 * (shape-sync ends one after its SSE timeout). Every `intervalMs` each distinct credential with open
 * streams is authenticated again — one check per credential, however many streams it holds — and when
 * it is refused (401/403), its streams are ended cleanly: the client reconnects, is refused, and (the
 * dashboard, the hooks' `onTokenRefused`) renews its token and resumes from its last offset. A check
 * that fails for another reason (the database unreachable) ends nothing.
 */
import { HttpError } from "../httpErrors.server";

interface Group {
  authenticate: () => Promise<unknown>;
  ends: Set<() => void>;
}

export class StreamCredentialChecks {
  readonly #groups = new Map<string, Group>();
  readonly #intervalMs: number;
  readonly #onRefused: (key: string) => void;
  #timer: NodeJS.Timeout | undefined;

  /** `onRefused`: a credential was refused (e.g. forget its remembered authentication). */
  constructor(options: { intervalMs: number; onRefused?: (key: string) => void }) {
    this.#intervalMs = options.intervalMs;
    this.#onRefused = options.onRefused ?? (() => {});
  }

  /** Streams watched right now. */
  get streams(): number {
    let n = 0;
    for (const group of this.#groups.values()) n += group.ends.size;
    return n;
  }

  /**
   * Watches one stream opened with the credential `key`; `end` is called (once) when the credential is
   * refused. Returns the function that stops watching it (call it when the stream ends).
   */
  watch(key: string, authenticate: () => Promise<unknown>, end: () => void): () => void {
    let group = this.#groups.get(key);
    if (!group) this.#groups.set(key, (group = { authenticate, ends: new Set() }));
    const entry = () => end();
    group.ends.add(entry);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.recheck(), this.#intervalMs);
      this.#timer.unref();
    }
    const watched = group;
    return () => {
      watched.ends.delete(entry);
      if (watched.ends.size === 0 && this.#groups.get(key) === watched) this.#groups.delete(key);
      if (this.#groups.size === 0) this.stop();
    };
  }

  /** Checks every credential with open streams now (the timer calls this every interval). */
  async recheck(): Promise<void> {
    await Promise.all(
      [...this.#groups].map(async ([key, group]) => {
        try {
          await group.authenticate();
        } catch (error) {
          if (!(error instanceof HttpError) || (error.status !== 401 && error.status !== 403)) return;
          if (this.#groups.get(key) === group) this.#groups.delete(key);
          this.#onRefused(key);
          for (const end of [...group.ends]) end();
        }
      }),
    );
    if (this.#groups.size === 0) this.stop();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The `watch` of an event stream's reply (feedReply.server.ts) on any backend: the stream is ended once
 * its credential is refused. Undefined without a credential (nothing to re-check).
 */
export function credentialWatch(
  checks: StreamCredentialChecks,
  credential: { key: string; authenticate: () => Promise<unknown> } | undefined,
): ((end: () => void) => () => void) | undefined {
  return credential && ((end) => checks.watch(credential.key, credential.authenticate, end));
}
