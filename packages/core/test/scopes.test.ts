import { describe, expect, it } from "vitest";
import { Ability, flattenScopes, parseScope, scopeGrants } from "../src/scopes.js";

const can = (scopes: string[], action: string, type: string, id?: string) =>
  Ability.fromScopes(scopes).can(action, id === undefined ? { type } : { type, id });

describe("parseScope (§4.4 grammar)", () => {
  it("splits action:type:id on the first two colons only", () => {
    expect(parseScope("read:tags:env:prod")).toEqual({ action: "read", type: "tags", id: "env:prod", admin: false });
    expect(parseScope("read:runs")).toEqual({ action: "read", type: "runs", id: undefined, admin: false });
    expect(parseScope("admin")).toEqual({ action: "admin", admin: true });
  });

  it("rejects malformed scopes", () => {
    for (const bad of ["", "read", ":runs", "read:", "read:runs:", "readruns"]) expect(parseScope(bad)).toBeUndefined();
  });
});

describe("Ability.can (§4.4 matching)", () => {
  it("bare admin is universal", () => {
    expect(can(["admin"], "read", "runs", "run_1")).toBe(true);
    expect(can(["admin"], "write", "tasks")).toBe(true);
    expect(can(["admin"], "trigger", "tasks", "x")).toBe(true);
  });

  it("admin:<type> is not universal (it is just an action named admin)", () => {
    expect(can(["admin:runs"], "read", "runs", "run_1")).toBe(false);
    expect(can(["admin:runs"], "read", "runs")).toBe(false);
    expect(can(["admin:runs"], "admin", "runs", "run_1")).toBe(true);
  });

  it("action * matches any action, but only on its type", () => {
    expect(can(["*:runs"], "read", "runs", "run_1")).toBe(true);
    expect(can(["*:runs"], "write", "runs", "run_1")).toBe(true);
    expect(can(["*:runs"], "read", "tasks", "x")).toBe(false);
    expect(can(["*:runs:run_1"], "write", "runs", "run_1")).toBe(true);
    expect(can(["*:runs:run_1"], "write", "runs", "run_2")).toBe(false);
  });

  it("type all matches every type for its action", () => {
    expect(can(["read:all"], "read", "runs", "run_1")).toBe(true);
    expect(can(["read:all"], "read", "batch")).toBe(true);
    expect(can(["read:all"], "write", "runs", "run_1")).toBe(false);
    expect(can(["*:all"], "trigger", "tasks", "x")).toBe(true);
  });

  it("a type-wide scope grants every id of that type and the type itself", () => {
    expect(can(["read:runs"], "read", "runs", "run_1")).toBe(true);
    expect(can(["read:runs"], "read", "runs")).toBe(true);
    expect(can(["read:runs"], "read", "tags", "t")).toBe(false);
    expect(can(["read:runs"], "write", "runs", "run_1")).toBe(false);
  });

  it("an id scope grants exactly that id", () => {
    expect(can(["read:runs:run_1"], "read", "runs", "run_1")).toBe(true);
    expect(can(["read:runs:run_1"], "read", "runs", "run_2")).toBe(false);
    expect(can(["read:runs:run_1"], "read", "tasks", "run_1")).toBe(false);
    expect(can(["trigger:tasks:my-task"], "trigger", "tasks", "my-task")).toBe(true);
    expect(can(["trigger:tasks:my-task"], "batchTrigger", "tasks", "my-task")).toBe(false);
  });

  it("ids may contain colons", () => {
    expect(can(["read:tags:env:prod"], "read", "tags", "env:prod")).toBe(true);
    expect(can(["read:tags:env:prod"], "read", "tags", "env")).toBe(false);
    expect(can(["read:tags:env"], "read", "tags", "env:prod")).toBe(false);
  });

  it("a resource without an id is only granted by type-wide, all or admin", () => {
    expect(can(["read:runs:run_1"], "read", "runs")).toBe(false);
    expect(can(["read:runs"], "read", "runs")).toBe(true);
    expect(can(["read:all"], "read", "runs")).toBe(true);
    expect(can(["admin"], "read", "runs")).toBe(true);
  });

  it("an empty or missing scope list grants nothing", () => {
    expect(can([], "read", "runs", "run_1")).toBe(false);
    expect(Ability.fromScopes(undefined).canAny("read", [{ type: "runs" }, { type: "runs", id: "a" }])).toBe(false);
  });

  it("malformed scopes are ignored, not fatal", () => {
    expect(can(["garbage", "read:runs:run_1"], "read", "runs", "run_1")).toBe(true);
  });

  it("canAny is any-of, and an empty resource list denies", () => {
    const ability = Ability.fromScopes(["read:tags:t2"]);
    expect(
      ability.canAny("read", [
        { type: "runs", id: "run_1" },
        { type: "tags", id: "t2" },
      ]),
    ).toBe(true);
    expect(
      ability.canAny("read", [
        { type: "runs", id: "run_1" },
        { type: "tags", id: "t3" },
      ]),
    ).toBe(false);
    expect(ability.canAny("read", [])).toBe(false);
  });

  it("the root key ability allows everything", () => {
    const full = Ability.full();
    expect(full.can("anything", { type: "whatever" })).toBe(true);
    expect(full.canAny("read", [])).toBe(true);
    expect(full.deniedScopes(["admin", "read:all"])).toEqual([]);
  });

  it("scopeGrants on a parsed scope agrees with the ability", () => {
    expect(scopeGrants(parseScope("read:runs:a")!, "read", { type: "runs", id: "a" })).toBe(true);
  });
});

describe("Ability.deniedScopes (public-token minting, §4.5)", () => {
  it("returns the requested scopes not covered by the key", () => {
    const key = Ability.fromScopes(["read:runs", "trigger:tasks:a"]);
    expect(key.deniedScopes(["read:runs:run_1", "read:runs", "trigger:tasks:a"])).toEqual([]);
    expect(key.deniedScopes(["read:runs:run_1", "write:runs:run_1", "trigger:tasks:b", "trigger:tasks"])).toEqual([
      "write:runs:run_1",
      "trigger:tasks:b",
      "trigger:tasks",
    ]);
  });

  it("wildcards and admin can only be minted by keys that hold them", () => {
    const key = Ability.fromScopes(["read:runs"]);
    expect(key.deniedScopes(["admin", "read:all", "*:runs"])).toEqual(["admin", "read:all", "*:runs"]);
    expect(Ability.fromScopes(["read:all"]).deniedScopes(["read:all", "read:tags:x"])).toEqual([]);
    expect(Ability.fromScopes(["admin"]).deniedScopes(["admin", "*:all", "write:runs"])).toEqual([]);
  });

  it("malformed requested scopes are denied", () => {
    expect(Ability.fromScopes(["admin"]).deniedScopes(["read:"])).toEqual(["read:"]);
  });
});

describe("flattenScopes (the SDK's object form)", () => {
  it("flattens like packages/trigger-sdk auth.ts", () => {
    expect(flattenScopes({ read: { runs: true } })).toEqual(["read:runs"]);
    expect(flattenScopes({ read: { runs: ["run_1"], tags: "t", batch: "batch_1", tasks: ["x"] } })).toEqual([
      "read:runs:run_1",
      "read:tags:t",
      "read:batch:batch_1",
      "read:tasks:x",
    ]);
    expect(
      flattenScopes({ trigger: { tasks: "x" }, batchTrigger: { tasks: ["x"] }, write: { inputStreams: ["run_1"] } }),
    ).toEqual(["trigger:tasks:x", "batchTrigger:tasks:x", "write:inputStreams:run_1"]);
  });
});
