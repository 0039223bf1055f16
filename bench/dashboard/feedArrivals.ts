/**
 * A page script that times when each change of the realtime runs feed reaches the browser, to split the
 * dashboard's feed lag from its render lag. The table subscribes over SSE (a body that never ends, so
 * Playwright's response events cannot read it): the page's own fetch is wrapped, each realtime response
 * body is teed, and its messages (SSE `data:` lines, or a long-poll's JSON array) are recorded in
 * `window.__arrived` as [run id, updatedAt, time] when their bytes arrive.
 *
 * A string, not a function: tsx's name helpers do not exist in the page.
 */
import { LIVE_SSE_PARAM } from "../../packages/core/src/index.js";

export const TIME_FEED_ARRIVALS = `
  window.__arrived = [];
  const record = (text, at) => {
    try {
      const parsed = JSON.parse(text);
      for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
        const value = message && message.value;
        if (value && value.id && value.updatedAt) window.__arrived.push([value.id, value.updatedAt, at]);
      }
    } catch {}
  };
  const original = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await original(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.includes("/realtime/v1/runs") || !response.body) return response;
    const [mine, theirs] = response.body.tee();
    const sse = url.includes("${LIVE_SSE_PARAM}=true");
    (async () => {
      const reader = mine.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ done: true }));
        if (done) break;
        const at = performance.timeOrigin + performance.now();
        buffered += value;
        if (!sse) continue;
        const lines = buffered.split("\\n");
        buffered = lines.pop();
        for (const line of lines) if (line.startsWith("data:")) record(line.slice(5), at);
      }
      if (!sse) record(buffered, performance.timeOrigin + performance.now());
    })();
    return new Response(theirs, response);
  };
`;
