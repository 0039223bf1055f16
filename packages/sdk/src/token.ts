/** Token renewal for live feeds: what a caller hands in to keep a subscription alive past its token. */
import type { AuthenticationError } from "./errors.js";

/**
 * Called when the server refused the feed's token (401: expired, or its key was rolled). Returns a
 * fresh token, and the feed resumes from its last offset with it: no run is sent twice or missed.
 * Returning undefined, or throwing, ends the feed with the error.
 */
export type TokenRefusedHandler = (error: AuthenticationError) => string | undefined | Promise<string | undefined>;
