/** Slot/publication names (§9.1) and small LSN helpers. */
export { bigIntToLsn, lsnToBigInt } from "@runfeed/core";

export const slotName = (streamId: string) => `electric_slot_${streamId}`;
export const publicationName = (streamId: string) => `electric_publication_${streamId}`;
export const quoteIdentSafe = (s: string) => `"${s.replace(/"/g, '""')}"`;
