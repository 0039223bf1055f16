/**
 * Run metadata operations (realtime-contract §6.3), the same semantics as the SDK's
 * `applyMetadataOperations` (C:runMetadata/operations.ts), without its dependencies:
 *
 * - keys are plain names or JSON paths `$.a.b` (dot components, `\.` escapes a dot; `$.a.0` indexes
 *   an array). Like JSONHeroPath, writing a path whose parent does not exist changes nothing;
 * - `set` assigns; `delete` removes a top-level key only; `append` creates `[v]`, pushes, or wraps a
 *   scalar as `[old, v]`; `remove` filters an array by deep equality (a non-array target is
 *   "unapplied"); `increment` is `(number or 0) + v`; `update` replaces the whole object;
 * - a key naming `__proto__` (or, in a path, `constructor`/`prototype`) is never applied, and the
 *   zod schema rejects it up front.
 *
 * Pure: the input object is never mutated.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type MetadataObject = Record<string, unknown>;

export type MetadataOperation =
  | { type: "set"; key: string; value: unknown }
  | { type: "delete"; key: string }
  | { type: "append"; key: string; value: unknown }
  | { type: "remove"; key: string; value: unknown }
  | { type: "increment"; key: string; value: number }
  | { type: "update"; value: MetadataObject };

const DANGEROUS_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);
const PATH_COMPONENTS = /(?:[^.\\]|\\.)+/g;

/** A `$.` path must name something below the root (`$.` and `$..` do not). */
export function namesBelowRoot(key: string): boolean {
  return !key.startsWith("$.") || (key.match(PATH_COMPONENTS)?.length ?? 0) > 1;
}

/** Literal keys: only `__proto__` is dangerous. Paths: no `__proto__`/`constructor`/`prototype` segment. */
export function hasNoDangerousSegment(key: string): boolean {
  if (!key.startsWith("$.")) return key !== "__proto__";
  return !key.split(/[.[\]'"\\]+/).some((segment) => DANGEROUS_SEGMENTS.has(segment));
}

export const isSafeMetadataKey = (key: string) => namesBelowRoot(key) && hasNoDangerousSegment(key);

/** `$.a.b\.c.0` → ["a", "b.c", "0"]. */
export function parseMetadataPath(key: string): string[] {
  const components = key.match(PATH_COMPONENTS) ?? [];
  return components.slice(1).map((c) => c.replace(/\\(.)/g, "$1"));
}

type Container = Record<string, unknown> | unknown[];
const isContainer = (value: unknown): value is Container => typeof value === "object" && value !== null;

function getAt(root: MetadataObject, key: string): unknown {
  if (!key.startsWith("$.")) return Object.hasOwn(root, key) ? root[key] : undefined;
  let current: unknown = root;
  for (const segment of parseMetadataPath(key)) {
    if (!isContainer(current) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** Assigns at `key`; returns false (and changes nothing) when a path's parent is missing. */
function setAt(root: MetadataObject, key: string, value: unknown): boolean {
  if (!key.startsWith("$.")) {
    defineOwn(root, key, value);
    return true;
  }
  const segments = parseMetadataPath(key);
  let parent: unknown = root;
  for (const segment of segments.slice(0, -1)) {
    if (!isContainer(parent) || !Object.hasOwn(parent, segment)) return false;
    parent = (parent as Record<string, unknown>)[segment];
  }
  if (!isContainer(parent)) return false;
  defineOwn(parent as Record<string, unknown>, segments[segments.length - 1]!, value);
  return true;
}

/** Own-property assignment that can never reach a prototype setter. */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null)
    return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => deepEqual(item, other[i]));
  }
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  return (
    aKeys.length === bKeys.length &&
    aKeys.every((k) => Object.hasOwn(b, k) && deepEqual((a as MetadataObject)[k], (b as MetadataObject)[k]))
  );
}

export interface AppliedMetadata {
  newMetadata: MetadataObject;
  unappliedOperations: MetadataOperation[];
}

export function applyMetadataOperations(
  current: MetadataObject,
  operations: readonly MetadataOperation[],
): AppliedMetadata {
  const unappliedOperations: MetadataOperation[] = [];
  let metadata = structuredClone(current) as MetadataObject;

  for (const operation of operations) {
    if (operation.type !== "update" && !isSafeMetadataKey(operation.key)) {
      unappliedOperations.push(operation);
      continue;
    }
    switch (operation.type) {
      case "set":
        setAt(metadata, operation.key, structuredClone(operation.value));
        break;
      case "delete":
        if (Object.hasOwn(metadata, operation.key)) delete metadata[operation.key];
        break;
      case "append": {
        const existing = getAt(metadata, operation.key);
        const value = structuredClone(operation.value);
        const next =
          existing === undefined ? [value] : Array.isArray(existing) ? [...existing, value] : [existing, value];
        setAt(metadata, operation.key, next);
        break;
      }
      case "remove": {
        const existing = getAt(metadata, operation.key);
        if (Array.isArray(existing)) {
          setAt(
            metadata,
            operation.key,
            existing.filter((item) => !deepEqual(item, operation.value)),
          );
        } else {
          unappliedOperations.push(operation);
        }
        break;
      }
      case "increment": {
        const existing = getAt(metadata, operation.key);
        setAt(metadata, operation.key, (typeof existing === "number" ? existing : 0) + operation.value);
        break;
      }
      case "update":
        metadata = structuredClone(operation.value);
        break;
      default:
        unappliedOperations.push(operation);
    }
  }
  return { newMetadata: metadata, unappliedOperations };
}

/**
 * Parses a stored metadata packet into an object. Only inline JSON types are stored for metadata
 * (§5.4, checklist #21); anything unparsable or not an object reads as `{}`.
 */
export function parseMetadataPacket(data: string | null | undefined, dataType = "application/json"): MetadataObject {
  if (!data) return {};
  try {
    let parsed: unknown = JSON.parse(data);
    // super+json packets keep the plain value under `json` (type annotations under `meta` are dropped).
    if (dataType === "application/super+json" && isContainer(parsed) && "json" in parsed)
      parsed = (parsed as MetadataObject).json;
    if (!isContainer(parsed) || Array.isArray(parsed)) return {};
    return parsed as MetadataObject;
  } catch {
    return {};
  }
}

/** UTF-8 byte length of the serialised metadata (the 256 KB limit is on bytes). */
export function metadataByteLength(serialised: string): number {
  return new TextEncoder().encode(serialised).byteLength;
}
