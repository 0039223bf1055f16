/** The SQLite shape store: a shape whose snapshot a crash cut off is dropped with its partial log. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ShapeStorage } from "../src/shapes/storage.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function openStore(dir?: string): { dir: string; storage: ShapeStorage } {
  const d = dir ?? mkdtempSync(join(tmpdir(), "shape-storage-test-"));
  if (!dir) dirs.push(d);
  return { dir: d, storage: new ShapeStorage(d, 2) };
}

describe("ShapeStorage", () => {
  it("lists a shape only once its snapshot is complete, and drops interrupted ones with their chunks after a restart", () => {
    const { dir, storage } = openStore();
    const shape = (id: number) => ({ id, handle: `h${id}`, defKey: `k${id}`, def: "{}", requestKey: null });
    storage.insertPendingShape(shape(1));
    storage.append([{ shapeId: 1, tx: 0, op: 0, json: '{"key":"a"}' }]);
    storage.completeShape(1, '{"xmin":"1","xmax":"2","xip":[]}', true);
    storage.insertPendingShape(shape(2));
    storage.append([
      { shapeId: 2, tx: 0, op: 0, json: '{"key":"b"}' },
      { shapeId: 2, tx: 0, op: 1, json: '{"key":"c"}' },
    ]);
    expect(storage.listShapes().map((s) => s.id)).toEqual([1]);
    storage.close();

    // "Restart": a new store on the same file.
    const reopened = openStore(dir).storage;
    expect(reopened.dropIncomplete()).toBe(1);
    expect(reopened.listShapes().map((s) => ({ id: s.id, filtering: s.filtering }))).toEqual([
      { id: 1, filtering: true },
    ]);
    expect([...reopened.iterate(2, 0)]).toEqual([]);
    expect([...reopened.iterate(1, 0)].map((r) => r.json)).toEqual(['{"key":"a"}']);
    expect(reopened.dropIncomplete()).toBe(0);
    reopened.close();
  });
});
