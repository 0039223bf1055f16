/**
 * The lifecycle of one subscription as immutable states with a literal `kind` and a pure
 * transition function (style.md rule 2). SPEC.md lists the invariants (S1–S8) this implements.
 *
 *   connecting ──up-to-date──► live ──up-to-date──► live
 *       │  ▲                    │ ▲
 *       │  └──────responded─────┼─┼── reconnecting ◄──retrying── (network error, 5xx, 429)
 *       │                       │ └──responded (once up to date)──┘
 *       ├──refused──► refused ──token-renewed──► reconnecting   (401 and an onTokenRefused callback)
 *       │
 *       ├──run-finished─────────┼──► completed   (stopOnCompletion and a run with finishedAt)
 *       ├──unsubscribe──────────┼──► unsubscribed
 *       └──error────────────────┴──► errored
 *
 * completed, unsubscribed and errored are terminal: every later event is ignored (S2). `refused` and
 * `reconnecting` can be left from any non-terminal state and return to `live` (or `connecting`, when
 * the feed had not caught up yet) on the next answered request.
 */
export type SubscriptionState =
  | { readonly kind: "connecting" }
  | { readonly kind: "live" }
  /** A request failed (network, 5xx, 429) or a fresh token was just set; the feed retries from its offset. */
  | { readonly kind: "reconnecting"; readonly error: Error }
  /** The token was refused (401); waiting for `onTokenRefused` to hand over a fresh one. */
  | { readonly kind: "refused"; readonly error: Error }
  | { readonly kind: "completed" }
  | { readonly kind: "unsubscribed" }
  | { readonly kind: "errored"; readonly error: Error };

/** What a connection indicator shows: the state's kind. */
export type ConnectionState = SubscriptionState["kind"];

export type SubscriptionEvent =
  | { readonly type: "up-to-date" }
  /** A request was answered (2xx); `upToDate` when the feed had caught up before. */
  | { readonly type: "responded"; readonly upToDate: boolean }
  | { readonly type: "retrying"; readonly error: Error }
  | { readonly type: "refused"; readonly error: Error }
  | { readonly type: "token-renewed" }
  | { readonly type: "run-finished" }
  | { readonly type: "unsubscribe" }
  | { readonly type: "error"; readonly error: Error };

export const INITIAL_STATE: SubscriptionState = { kind: "connecting" };

export const isTerminal = (state: SubscriptionState) =>
  state.kind === "completed" || state.kind === "unsubscribed" || state.kind === "errored";

const LIVE: SubscriptionState = { kind: "live" };

export function transition(state: SubscriptionState, event: SubscriptionEvent): SubscriptionState {
  if (isTerminal(state)) return state;
  switch (event.type) {
    case "up-to-date":
      return state.kind === "live" ? state : LIVE;
    case "responded":
      if (state.kind !== "reconnecting") return state;
      return event.upToDate ? LIVE : INITIAL_STATE;
    case "retrying":
      // A refused token stays refused until the callback answers; repeated failures keep the first state.
      return state.kind === "refused" || state.kind === "reconnecting"
        ? state
        : { kind: "reconnecting", error: event.error };
    case "refused":
      return { kind: "refused", error: event.error };
    case "token-renewed":
      return state.kind === "refused" ? { kind: "reconnecting", error: state.error } : state;
    case "run-finished":
      return { kind: "completed" };
    case "unsubscribe":
      return { kind: "unsubscribed" };
    case "error":
      return { kind: "errored", error: event.error };
  }
}
