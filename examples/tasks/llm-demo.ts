/**
 * The realtime streams example: a synthetic language model. It "answers" a prompt a sentence at a
 * time, token by token at about 50 tokens/s for about 10 s, into the run's `llm` stream (text that
 * accumulates in a reader), and after each sentence appends a part to `sentences` (a JSON object per
 * sentence). No model and no network: the text comes from a fixed set of sentences.
 */
import { defineTask } from "@runfeed/sdk";

export interface LlmDemoPayload {
  prompt?: string;
  /** Default 50, at most 500. */
  tokensPerSecond?: number;
  /** Default 10, at most 120. */
  seconds?: number;
}

export interface LlmDemoOutput {
  tokens: number;
  sentences: number;
  text: string;
}

const SENTENCES = [
  "A run is a unit of background work that moves from queued to executing to completed.",
  "Every change to a run reaches the browser through a shape long-poll in well under a second.",
  "Realtime streams carry data from inside a run, such as the tokens of a model's answer.",
  "Each chunk is stored in a Redis stream, and its entry id is where a reader resumes.",
  "When the run finishes, the stream is archived to Postgres in bulk and read from there.",
  "A reader that loses its connection asks again with the last event id it saw.",
  "Nothing is delivered twice and nothing is skipped, whichever way the chunk arrives.",
  "The writer sends one long request and picks up where the server's copy ends after a break.",
  "Past a cap, the writer is told so with a 413, and what it wrote before stays readable.",
  "This answer was never computed: the demo replays sentences at a steady pace.",
];

/** Words with their trailing space: what a tokenizer of a real model roughly yields. */
const tokensOf = (sentence: string) => `${sentence} `.split(/(?<= )/);

export const llmDemo = defineTask<LlmDemoPayload, LlmDemoOutput>({
  id: "llm-demo",
  description: "Streams a synthetic answer token by token (≈50 tokens/s for ≈10 s) to its `llm` stream.",
  async run(payload, ctx) {
    const rate = Math.max(1, Math.min(payload?.tokensPerSecond ?? 50, 500));
    const budget = Math.round(rate * Math.max(1, Math.min(payload?.seconds ?? 10, 120)));
    const start = [...(payload?.prompt ?? "")].reduce((sum, c) => sum + c.charCodeAt(0), 0) % SENTENCES.length;
    let text = "";
    let tokens = 0;
    let sentences = 0;
    ctx.logger.info("Answering", { tokensPerSecond: rate, tokenBudget: budget });
    await ctx.metadata.set("stage", "answering");

    async function* answer() {
      for (let s = start; tokens < budget; s = (s + 1) % SENTENCES.length) {
        const sentence = SENTENCES[s]!;
        for (const token of tokensOf(sentence)) {
          await ctx.sleep(1000 / rate);
          tokens++;
          text += token;
          yield token;
        }
        sentences++;
        ctx.logger.debug(`Sentence ${sentences} streamed`, { tokens });
        await ctx.streams.append("sentences", { index: sentences, tokens: tokensOf(sentence).length, text: sentence });
      }
    }

    await ctx.streams.pipe("llm", answer());
    ctx.logger.event("answered", { tokens, sentences });
    await ctx.metadata.set("stage", "done");
    return { tokens, sentences, text: text.trim() };
  },
});
