/**
 * Scope grammar and matching for public JWTs and additional API keys (realtime-contract §4.4).
 *
 *   scope    := "admin" | action ":" type [ ":" id ]      (id = everything after the second colon)
 *   action   := "read" | "write" | "trigger" | "batchTrigger" | "*" | …
 *   type     := "runs" | "tasks" | "batch" | "tags" | … | "all"
 *
 * A scope grants (action, resource) when it is exactly `admin`; or its action equals the requested
 * one (or is `*`) and its type is `all`, or its type equals the resource type and it has no id
 * (type-wide), or both type and id are equal. A resource without an id is only granted by type-wide
 * scopes (or `all`/`admin`).
 */
export interface ScopeResource {
  type: string;
  id?: string;
}

export interface ParsedScope {
  action: string;
  type?: string;
  id?: string;
  admin: boolean;
}

export function parseScope(scope: string): ParsedScope | undefined {
  if (scope === "admin") return { action: "admin", admin: true };
  const first = scope.indexOf(":");
  if (first <= 0) return undefined;
  const action = scope.slice(0, first);
  const rest = scope.slice(first + 1);
  const second = rest.indexOf(":");
  const type = second === -1 ? rest : rest.slice(0, second);
  const id = second === -1 ? undefined : rest.slice(second + 1);
  if (!type || id === "") return undefined;
  return { action, type, id, admin: false };
}

export function scopeGrants(scope: ParsedScope, action: string, resource: ScopeResource): boolean {
  if (scope.admin) return true;
  if (scope.action !== action && scope.action !== "*") return false;
  if (scope.type === "all") return true;
  if (scope.type !== resource.type) return false;
  if (scope.id === undefined) return true;
  return resource.id !== undefined && scope.id === resource.id;
}

/** An ability built from a list of scopes; `superuser` is the root secret key's full access. */
export class Ability {
  readonly #scopes: ParsedScope[];
  readonly superuser: boolean;

  private constructor(scopes: ParsedScope[], superuser: boolean) {
    this.#scopes = scopes;
    this.superuser = superuser;
  }

  static fromScopes(scopes: readonly string[] | undefined): Ability {
    const parsed = (scopes ?? []).map(parseScope).filter((s): s is ParsedScope => s !== undefined);
    return new Ability(parsed, false);
  }

  static full(): Ability {
    return new Ability([], true);
  }

  can(action: string, resource: ScopeResource): boolean {
    return this.superuser || this.#scopes.some((scope) => scopeGrants(scope, action, resource));
  }

  /** Any-of: passes when any resource is granted; an empty list denies (unless superuser). */
  canAny(action: string, resources: readonly ScopeResource[]): boolean {
    return this.superuser || resources.some((resource) => this.can(action, resource));
  }

  /** Whether every one of `requested` scopes is itself granted by this ability (public-token minting). */
  deniedScopes(requested: readonly string[]): string[] {
    if (this.superuser) return [];
    return requested.filter((scope) => {
      const parsed = parseScope(scope);
      if (!parsed) return true;
      if (parsed.admin) return !this.#scopes.some((s) => s.admin);
      if (parsed.type === "all" || parsed.action === "*") {
        return !this.#scopes.some(
          (s) => s.admin || ((s.action === parsed.action || s.action === "*") && s.type === "all"),
        );
      }
      return !this.can(parsed.action, { type: parsed.type!, id: parsed.id });
    });
  }
}

/**
 * The SDK's object form → flat scopes (`{read:{runs:["run_1"], tags:true}}` → `read:runs:run_1`, `read:tags`).
 */
export function flattenScopes(scopes: Record<string, Record<string, true | string | string[]>>): string[] {
  const out: string[] = [];
  for (const [action, types] of Object.entries(scopes)) {
    for (const [type, ids] of Object.entries(types)) {
      if (ids === true) out.push(`${action}:${type}`);
      else for (const id of Array.isArray(ids) ? ids : [ids]) out.push(`${action}:${type}:${id}`);
    }
  }
  return out;
}
