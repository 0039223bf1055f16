/**
 * Where the browser may be sent after sign-in. `redirectTo` is parsed against the app's own origin
 * with the WHATWG URL parser (as the browser will parse the Location header) and accepted only if the
 * origin is unchanged and the normalised path is a dashboard page; anything else gives the fallback.
 * The answer is rebuilt from the parsed URL, so what the browser follows is what was checked.
 */

/** Longer values are not links a user followed. */
const MAX_LENGTH = 2048;

/** Dashboard pages: the landing page, the account page and everything under /orgs/. */
function isDashboardPage(pathname: string): boolean {
  return pathname === "/" || pathname === "/account" || pathname.startsWith("/orgs/");
}

export function safeRedirect(to: unknown, appOrigin: string, fallback = "/"): string {
  if (typeof to !== "string" || to === "" || to.length > MAX_LENGTH) return fallback;
  // Browsers drop tabs and newlines and trim control characters before parsing; nothing a link of ours
  // produces contains them, so refuse rather than second-guess how a value would be read.
  if (/[\u0000-\u001f\u007f]/.test(to)) return fallback;
  let base: URL;
  let url: URL;
  try {
    base = new URL(appOrigin);
    url = new URL(to, base);
  } catch {
    return fallback;
  }
  if (url.origin !== base.origin || url.username || url.password) return fallback;
  // "/.//evil.example" normalises to the path "//evil.example": sent as is, a protocol-relative URL.
  if (url.pathname.startsWith("//") || !isDashboardPage(url.pathname)) return fallback;
  return `${url.pathname}${url.search}${url.hash}`;
}
