/** Assembles pgoutput messages into committed transactions for the change router (commit boundaries, §4.1). */
import type { PgoutputMessage } from "./pgoutput.js";
import type { ChangeRouter } from "../shapes/change-router.js";
import type { ReplicatedTransaction } from "../shapes/shape.js";

export class TransactionAssembler {
  private current: (ReplicatedTransaction & { open: true }) | undefined;

  constructor(private readonly router: Pick<ChangeRouter, "onRelation" | "applyTransaction">) {}

  get inTransaction(): boolean {
    return this.current !== undefined;
  }

  onMessage(msg: PgoutputMessage): void {
    switch (msg.tag) {
      case "begin":
        this.current = {
          xid: msg.xid,
          commitLsn: msg.finalLsn,
          endLsn: msg.finalLsn,
          changes: [],
          truncated: [],
          open: true,
        };
        return;
      case "relation":
        this.router.onRelation(msg);
        return;
      case "insert":
        this.current?.changes.push({ oid: msg.oid, kind: "insert", new: msg.new });
        return;
      case "update":
        this.current?.changes.push({ oid: msg.oid, kind: "update", old: msg.old, new: msg.new });
        return;
      case "delete":
        this.current?.changes.push({ oid: msg.oid, kind: "delete", old: msg.old });
        return;
      case "truncate":
        this.current?.truncated.push(...msg.oids);
        return;
      case "commit": {
        const txn = this.current;
        this.current = undefined;
        if (!txn) return;
        txn.commitLsn = msg.commitLsn;
        txn.endLsn = msg.endLsn;
        this.router.applyTransaction(txn);
        return;
      }
      default:
        return;
    }
  }
}
