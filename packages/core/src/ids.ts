/**
 * Key and id formats (realtime-contract §4.1–4.2, §1.2). Uses Web Crypto only, so it runs anywhere.
 */
export type EnvironmentType = "DEVELOPMENT" | "STAGING" | "PRODUCTION" | "PREVIEW";

const KEY_SLUG: Record<EnvironmentType, string> = {
  DEVELOPMENT: "dev",
  STAGING: "stg",
  PRODUCTION: "prod",
  PREVIEW: "preview",
};

/** Root secret key: `tr_<env>_<24 alnum>` — never matching the additional-key format. */
export const ROOT_KEY_REGEX = /^tr_(dev|stg|prod|preview)_[0-9a-zA-Z]{24}$/;
/** Additional API key: `tr_<env>_sk_<24 alnum>`, stored only as a SHA-256 hash. */
export const ADDITIONAL_KEY_REGEX = /^tr_(dev|stg|prod|preview)_sk_[0-9a-zA-Z]{24}$/;

const ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz";

export function randomString(length: number, alphabet = ALNUM): string {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  let out = "";
  // 256 % 62 bias is irrelevant for identifiers; keys use 62^24 ≈ 2^143 of entropy.
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

export function generateRootKey(type: EnvironmentType): string {
  // "sk" would make a root key look like an additional key; regenerate in that (impossible-length) case.
  return `tr_${KEY_SLUG[type]}_${randomString(24)}`;
}

export function generateAdditionalKey(type: EnvironmentType): string {
  return `tr_${KEY_SLUG[type]}_sk_${randomString(24)}`;
}

export const generateRunFriendlyId = () => `run_${randomString(25, LOWER_ALNUM)}`;
export const generateBatchFriendlyId = () => `batch_${randomString(25, LOWER_ALNUM)}`;
export const generateScheduleFriendlyId = () => `sched_${randomString(25, LOWER_ALNUM)}`;

/** Internal run id, cuid-shaped (`c` + time in base 36 + random): what Prisma's `@default(cuid())` would give. */
export const generateRunId = () => `c${Date.now().toString(36)}${randomString(16, LOWER_ALNUM)}`;
