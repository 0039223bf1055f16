/**
 * "The client went away", as the realtime backends need it: AbortSignal's own subset, so the Remix
 * path passes its Fetch request's signal as is, and the node hot path a ResponseClosedSignal, which costs
 * one `close` listener on the response instead of an AbortController and an EventTarget per request
 * (docs/decisions/072-realtime-sse-and-cheap-repoll.md, third pass).
 */
import type { ServerResponse } from "node:http";

export interface ClientSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: EventListenerOrEventListenerObject, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: EventListenerOrEventListenerObject): void;
}

/**
 * Aborted when the response closes before it finished (the client went away), as @remix-run/express
 * aborts a request's signal. Listeners run once, in the order they were added.
 */
export class ResponseClosedSignal implements ClientSignal {
  // TypeScript `private`, not `#`: the server bundle lowers `#` fields to a WeakMap entry per instance,
  // and one of these is made per request.
  private isAborted = false;
  private listeners: Set<EventListenerOrEventListenerObject> | undefined;

  constructor(res: ServerResponse) {
    res.once("close", () => {
      if (!res.writableFinished) this.abort();
    });
  }

  get aborted(): boolean {
    return this.isAborted;
  }

  addEventListener(_type: "abort", listener: EventListenerOrEventListenerObject): void {
    if (this.isAborted) return;
    this.listeners ??= new Set();
    this.listeners.add(listener);
  }

  removeEventListener(_type: "abort", listener: EventListenerOrEventListenerObject): void {
    this.listeners?.delete(listener);
  }

  private abort() {
    this.isAborted = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (!listeners) return;
    const event = new Event("abort");
    for (const listener of listeners) {
      if (typeof listener === "function") listener(event);
      else listener.handleEvent(event);
    }
  }
}

/** An AbortSignal that follows `signal`, for APIs that need a real one (fetch). */
export function toAbortSignal(signal: ClientSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal;
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener("abort", () => controller.abort(), { once: true });
  return controller.signal;
}
