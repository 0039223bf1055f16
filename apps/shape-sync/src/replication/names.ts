/** The slot and publication of a replication stream (§9.1): one pair per `ELECTRIC_REPLICATION_STREAM_ID`. */
export const slotName = (streamId: string) => `electric_slot_${streamId}`;
export const publicationName = (streamId: string) => `electric_publication_${streamId}`;
