/** Table metadata for unit tests, as pg/catalog.ts reads it from Postgres: the first column is the key. */
import type { TableInfo } from "../src/pg/catalog.js";

const TYPE_OIDS: Record<string, number> = { int4: 23, text: 25 };

export function tableInfo(
  oid: number,
  table: string,
  columns: Array<[name: string, typname: "int4" | "text"]>,
): TableInfo {
  return {
    oid,
    schema: "public",
    table,
    pk: [columns[0]![0]],
    signature: columns.map(([name, typname]) => `${name}:${TYPE_OIDS[typname]}`).join(","),
    columns: columns.map(([name, typname], i) => ({
      name,
      attnum: i + 1,
      typeOid: TYPE_OIDS[typname]!,
      typname,
      elemTypname: typname,
      dims: 0,
      notNull: i === 0,
      typmod: -1,
      generated: false,
      isEnum: false,
      pkIndex: i === 0 ? 0 : undefined,
    })),
  };
}
