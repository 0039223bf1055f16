/**
 * The lifecycle of one subscription as immutable states with a literal `kind` and a pure
 * transition function (style.md rule 2). SPEC.md lists the invariants (S1–S6) this implements.
 *
 *   connecting ──up-to-date──► live ──up-to-date──► live
 *       │                       │
 *       ├──run-finished─────────┼──► completed   (stopOnCompletion and a run with finishedAt)
 *       ├──unsubscribe──────────┼──► unsubscribed
 *       └──error────────────────┴──► errored
 *
 * completed, unsubscribed and errored are terminal: every later event is ignored (S2).
 */
export type SubscriptionState =
  | { readonly kind: "connecting" }
  | { readonly kind: "live" }
  | { readonly kind: "completed" }
  | { readonly kind: "unsubscribed" }
  | { readonly kind: "errored"; readonly error: Error };

export type SubscriptionEvent =
  | { readonly type: "up-to-date" }
  | { readonly type: "run-finished" }
  | { readonly type: "unsubscribe" }
  | { readonly type: "error"; readonly error: Error };

export const INITIAL_STATE: SubscriptionState = { kind: "connecting" };

export const isTerminal = (state: SubscriptionState) =>
  state.kind === "completed" || state.kind === "unsubscribed" || state.kind === "errored";

export function transition(state: SubscriptionState, event: SubscriptionEvent): SubscriptionState {
  if (isTerminal(state)) return state;
  switch (event.type) {
    case "up-to-date":
      return state.kind === "live" ? state : { kind: "live" };
    case "run-finished":
      return { kind: "completed" };
    case "unsubscribe":
      return { kind: "unsubscribed" };
    case "error":
      return { kind: "errored", error: event.error };
  }
}
