/**
 * Sign-in throttling against the running webapp and real Redis: 429 with retry-after after N failed
 * sign-ins per account and per client address, the same for an unknown email as for a wrong
 * password, successes not counted, no more than N admitted when guesses arrive together.
 * TRUST_PROXY=loopback lets each test speak from its own client address (X-Forwarded-For).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressBucket } from "../../app/services/signInThrottle.server.js";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm } from "./support.js";

const PER_ACCOUNT = 3;
const PER_ADDRESS = 6;
const WINDOW_MS = 600_000;

describe("sign-in throttling", () => {
  let app: TestWebapp;
  const password = "throttle-password-1";
  let nextAddress = 10;
  /** A client address no other test uses. */
  const address = () => `198.51.100.${nextAddress++}`;
  let nextUser = 0;
  const newUser = async () => {
    const email = `throttle-${nextUser++}@runfeed.dev`;
    await seedDemoUser(app.webapp.services.prisma, { organizationIds: [app.project.organizationId], email, password });
    return email;
  };
  const attempt = (email: string, pw: string, from: string) =>
    postForm(app.url, "/login", { email, password: pw }, { "x-forwarded-for": from });

  beforeAll(async () => {
    app = await startTestWebapp({
      ELECTRIC_ORIGIN: "http://127.0.0.1:9",
      LOG_LEVEL: "error", // each throttled attempt is logged as a warning
      TRUST_PROXY: "loopback",
      SIGN_IN_MAX_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT),
      SIGN_IN_MAX_FAILURES_PER_ADDRESS: String(PER_ADDRESS),
      SIGN_IN_THROTTLE_WINDOW_MS: String(WINDOW_MS),
    });
  });
  afterAll(() => app?.close());

  it("answers 429 with retry-after after N wrong passwords, even to the right one", async () => {
    const email = await newUser();
    const from = address();
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await attempt(email, "wrong", from)).status).toBe(401);
    const refused = await attempt(email, "wrong", from);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(WINDOW_MS / 1000 - 30);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000);
    expect(await refused.text()).toContain("Too many failed sign-ins");
    // The right password does not get through the throttle either, nor from another address.
    expect((await attempt(email, password, from)).status).toBe(429);
    expect((await attempt(email, password, address())).status).toBe(429);
    // Another account from the same address is not throttled yet (3 failures < 6).
    expect((await attempt(await newUser(), password, from)).status).toBe(302);
  });

  it("treats an unknown email exactly like a wrong password", async () => {
    const known = await newUser();
    const unknown = "nobody-here@runfeed.dev";
    const answers = async (email: string) => {
      const from = address();
      const seen: Array<{ status: number; retryAfter: string | null; error: string }> = [];
      for (let i = 0; i <= PER_ACCOUNT; i++) {
        const response = await attempt(email, "wrong", from);
        const html = await response.text();
        seen.push({
          status: response.status,
          retryAfter: response.headers.get("retry-after") && "set",
          error: /role="alert">([^<]*)</.exec(html)?.[1] ?? "",
        });
      }
      return seen;
    };
    const forKnown = await answers(known);
    const forUnknown = await answers(unknown);
    expect(forKnown.map((a) => a.status)).toEqual([401, 401, 401, 429]);
    expect(forUnknown).toEqual(forKnown);
    expect(forKnown[0]!.error).toBe("That email and password do not match.");
  });

  it("spends about the same time on an unknown email as on a wrong password (one scrypt either way)", async () => {
    // Without the dummy hash an unknown email answers in a database lookup, an order of magnitude
    // faster than scrypt; the bound below only catches that, not scheduling noise.
    const known = await newUser();
    const time = async (email: string) => {
      const started = performance.now();
      expect((await attempt(email, "wrong", address())).status).toBe(401);
      return performance.now() - started;
    };
    const knownTimes: number[] = [];
    const unknownTimes: number[] = [];
    for (let i = 0; i < 7; i++) {
      // A fresh account each round: the per-account window never fills.
      knownTimes.push(await time(i % 2 ? known : await newUser()));
      unknownTimes.push(await time(`unknown-${i}@runfeed.dev`));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    expect(median(unknownTimes)).toBeGreaterThan(median(knownTimes) * 0.3);
  });

  it("answers 429 per client address across accounts", async () => {
    const from = address();
    for (let i = 0; i < PER_ADDRESS; i++) {
      expect((await attempt(`spray-${i}@runfeed.dev`, "wrong", from)).status).toBe(401);
    }
    const email = await newUser();
    expect((await attempt(email, password, from)).status).toBe(429);
    // The same account from elsewhere is fine.
    expect((await attempt(email, password, address())).status).toBe(302);
  });

  it("does not count successful sign-ins", async () => {
    const email = await newUser();
    const from = address();
    for (let round = 0; round < 3; round++) {
      expect((await attempt(email, password, from)).status).toBe(302);
      expect((await attempt(email, password, from)).status).toBe(302);
    }
    for (let i = 0; i < PER_ACCOUNT - 1; i++) expect((await attempt(email, "wrong", from)).status).toBe(401);
    expect((await attempt(email, password, from)).status).toBe(302);
  });

  it("admits no more than N guesses sent at once", async () => {
    const email = await newUser();
    const from = address();
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () => attempt(email, "wrong", from).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(PER_ACCOUNT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - PER_ACCOUNT);
  });

  it("throttles password-change guesses from a signed-in session like sign-ins", async () => {
    const email = await newUser();
    const from = address();
    const signedIn = await attempt(email, password, from);
    const cookie = signedIn.headers.get("set-cookie")!.split(";")[0]!;
    const change = () =>
      postForm(
        app.url,
        "/account",
        {
          intent: "change-password",
          currentPassword: "guess",
          newPassword: "n".repeat(12),
          confirmPassword: "n".repeat(12),
        },
        { cookie, "x-forwarded-for": from },
      );
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await change()).status).toBe(401);
    expect((await change()).status).toBe(429);
  });

  it("keeps one window per IPv6 /64 and per IPv4 address", () => {
    expect(addressBucket("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressBucket("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressBucket("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressBucket("::1")).toBe("0:0:0:0::/64");
    expect(addressBucket("203.0.113.7")).toBe("203.0.113.7");
  });
});

describe("sign-in without Redis", () => {
  let app: TestWebapp;

  beforeAll(async () => {
    // Nothing listens on port 9: every throttle call fails.
    app = await startTestWebapp({
      ELECTRIC_ORIGIN: "http://127.0.0.1:9",
      REDIS_URL: "redis://127.0.0.1:9",
      LOG_LEVEL: "fatal",
    });
    await seedDemoUser(app.webapp.services.prisma, {
      organizationIds: [app.project.organizationId],
      email: "no-redis@runfeed.dev",
      password: "no-redis-password",
    });
  });
  afterAll(() => app?.close());

  it("fails closed: 503 with retry-after, even for the right password, and no session", async () => {
    const response = await postForm(app.url, "/login", {
      email: "no-redis@runfeed.dev",
      password: "no-redis-password",
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(await response.text()).toContain("Sign-in is unavailable for a moment");
    expect(await app.webapp.services.prisma.session.count()).toBe(0);
  });
});
