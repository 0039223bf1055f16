/**
 * Who sent a request, as far as the webapp may believe it: the client's address, whether the request
 * reached us over HTTPS, and the origin the app answers on. X-Forwarded-For/-Proto/-Host count only
 * when they come from a proxy TRUST_PROXY names (Express's `trust proxy` semantics, via proxy-addr);
 * otherwise the socket and the Host header decide. APP_ORIGIN, when set, is the origin.
 */
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import proxyAddr from "proxy-addr";
import type { TrustProxy, WebappEnv } from "../env.server";

export interface RequestClient {
  /** The client's IP address (IPv4-mapped IPv6 written as IPv4). */
  address: string;
  /** The origin the app answers on (APP_ORIGIN, else the request's scheme and host). */
  origin: string;
  /** Served over HTTPS: APP_ORIGIN is https, or the request came over TLS (directly or via a trusted proxy). */
  secure: boolean;
}

export type TrustFunction = (address: string, hop: number) => boolean;

/** Express's compileTrust: true trusts every hop, a number that many hops, a list those addresses/subnets. */
export function compileTrust(trust: TrustProxy): TrustFunction {
  if (trust === true) return () => true;
  if (trust === false) return () => false;
  if (typeof trust === "number") return (_address, hop) => hop < trust;
  return proxyAddr.compile(trust);
}

export function createClientResolver(env: Pick<WebappEnv, "TRUST_PROXY" | "APP_ORIGIN">) {
  const trust = compileTrust(env.TRUST_PROXY);
  const configuredSecure = env.APP_ORIGIN?.startsWith("https:") ?? false;
  return (req: IncomingMessage): RequestClient => {
    const trusted = trust(req.socket.remoteAddress ?? "", 0);
    const forwarded = (name: string) => {
      const value = req.headers[name];
      return typeof value === "string" ? value.split(",")[0]!.trim() || undefined : undefined;
    };
    const protocol = (req.socket as TLSSocket).encrypted
      ? "https"
      : trusted && forwarded("x-forwarded-proto")?.toLowerCase() === "https"
        ? "https"
        : "http";
    const host = (trusted ? forwarded("x-forwarded-host") : undefined) ?? req.headers.host ?? "";
    return {
      address: normalizeAddress(proxyAddr(req, trust)),
      origin: env.APP_ORIGIN ?? originOf(protocol, host),
      secure: configuredSecure || protocol === "https",
    };
  };
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so one client has one address whichever stack accepted it. */
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

function originOf(protocol: string, host: string): string {
  try {
    const url = new URL(`${protocol}://${host}`);
    // A Host header carrying more than host[:port] (userinfo, a path, a query) names no origin of ours.
    const onlyHost = !url.username && !url.password && url.pathname === "/" && !url.search && !url.hash;
    return host && onlyHost ? url.origin : "null";
  } catch {
    return "null";
  }
}
