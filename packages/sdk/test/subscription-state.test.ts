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
