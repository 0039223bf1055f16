/** The alias vite.config.ts resolves to one of the two hook packages; typed as ours. */
declare module "realtime-hooks" {
  export {
    useRealtimeRun,
    useRealtimeRunsWithTag,
    useRealtimeBatch,
    useRealtimeStream,
    useRealtimeRunWithStreams,
  } from "@runfeed/react-hooks";
}
