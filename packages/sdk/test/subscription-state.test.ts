import { describe, expect, it } from "vitest";
import { INITIAL_STATE, transition } from "../src/subscription-state.js";

describe("subscription lifecycle transitions (SPEC.md S1–S2)", () => {
  it("goes connecting → live on up-to-date and stays live", () => {
    const live = transition(INITIAL_STATE, { type: "up-to-date" });
    expect(live).toEqual({ kind: "live" });
    expect(transition(live, { type: "up-to-date" })).toBe(live);
  });

  it.each([
    [{ type: "run-finished" } as const, "completed"],
    [{ type: "unsubscribe" } as const, "unsubscribed"],
    [{ type: "error", error: new Error("x") } as const, "errored"],
  ])("enters a terminal state on %o and ignores everything after", (event, kind) => {
    for (const from of [INITIAL_STATE, transition(INITIAL_STATE, { type: "up-to-date" })]) {
      const terminal = transition(from, event);
      expect(terminal.kind).toBe(kind);
      for (const later of [
        { type: "up-to-date" },
        { type: "unsubscribe" },
        { type: "run-finished" },
        { type: "error", error: new Error("y") },
      ] as const) {
        expect(transition(terminal, later)).toBe(terminal);
      }
    }
  });
});

describe("connection states (SPEC.md S7–S8)", () => {
  const error = new Error("503");
  const live = transition(INITIAL_STATE, { type: "up-to-date" });

  it("reconnecting after a failed request, back to live (or connecting) once a request is answered", () => {
    const reconnecting = transition(live, { type: "retrying", error });
    expect(reconnecting).toEqual({ kind: "reconnecting", error });
    expect(transition(reconnecting, { type: "retrying", error: new Error("again") })).toBe(reconnecting);
    expect(transition(reconnecting, { type: "responded", upToDate: true })).toEqual({ kind: "live" });
    expect(transition(reconnecting, { type: "responded", upToDate: false })).toEqual({ kind: "connecting" });
    expect(transition(live, { type: "responded", upToDate: true })).toBe(live);
  });

  it("refused until a token is renewed, then reconnecting; a retry does not hide the refusal", () => {
    const refused = transition(live, { type: "refused", error });
    expect(refused).toEqual({ kind: "refused", error });
    expect(transition(refused, { type: "retrying", error: new Error("x") })).toBe(refused);
    expect(transition(refused, { type: "token-renewed" })).toEqual({ kind: "reconnecting", error });
    expect(transition(live, { type: "token-renewed" })).toBe(live);
    expect(transition(refused, { type: "error", error })).toEqual({ kind: "errored", error });
  });
});
