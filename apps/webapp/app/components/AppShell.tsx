/** The dashboard frame: a sidebar (brand, environment switcher, navigation, user) and the page. */
import { Form, NavLink, useLocation, useNavigate, useParams } from "@remix-run/react";
import type { ReactNode } from "react";

export interface ShellOrganization {
  slug: string;
  title: string;
  projects: Array<{ slug: string; name: string; environments: Array<{ slug: string; type: string }> }>;
}

const ENV_LABEL: Record<string, string> = {
  DEVELOPMENT: "Development",
  STAGING: "Staging",
  PRODUCTION: "Production",
  PREVIEW: "Preview",
};

export function AppShell({
  user,
  organizations,
  children,
}: {
  user: { name: string; email: string };
  organizations: ShellOrganization[];
  children: ReactNode;
}) {
  const params = useParams();
  const base =
    params.orgSlug && params.projectSlug && params.envSlug
      ? `/orgs/${params.orgSlug}/projects/${params.projectSlug}/env/${params.envSlug}`
      : undefined;
  return (
    <div className="shell">
      <aside className="sidebar">
        <a className="brand" href="/">
          <span className="brand-mark" aria-hidden>
            ▲
          </span>
          runfeed
        </a>
        <EnvironmentSwitcher organizations={organizations} />
        {base ? (
          <nav className="nav" aria-label="Environment">
            <NavLink to={`${base}/runs`} className="nav-link">
              <Icon d="M4 6h16M4 12h16M4 18h10" /> Runs
            </NavLink>
            <NavLink to={`${base}/schedules`} className="nav-link">
              <Icon d="M12 7v5l3 3M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18" /> Schedules
            </NavLink>
            <NavLink to={`${base}/apikeys`} className="nav-link">
              <Icon d="M15 7a4 4 0 1 1-3.9 4.9L4 19v-3h3v-3h3l1.1-1.1A4 4 0 0 1 15 7z" /> API keys
            </NavLink>
            <NavLink to={`${base}/realtime`} className="nav-link">
              <Icon d="M12 12m-2 0a2 2 0 1 0 4 0a2 2 0 1 0-4 0M7.8 7.8a6 6 0 0 0 0 8.4M16.2 7.8a6 6 0 0 1 0 8.4M5 5a10 10 0 0 0 0 14M19 5a10 10 0 0 1 0 14" />{" "}
              Realtime
            </NavLink>
          </nav>
        ) : null}
        <div className="sidebar-footer">
          <NavLink to="/account" className="user" title="Account: sessions and password">
            <span className="avatar" aria-hidden>
              {user.name.slice(0, 1).toUpperCase()}
            </span>
            <span className="user-text">
              <strong>{user.name}</strong>
              <span className="muted">{user.email}</span>
            </span>
          </NavLink>
          <Form method="post" action="/logout">
            <button className="button button-ghost button-small" type="submit">
              Sign out
            </button>
          </Form>
        </div>
      </aside>
      <main className="main">{children}</main>
    </div>
  );
}

function Icon({ d }: { d: string }) {
  return (
    <svg
      className="icon"
      viewBox="0 0 24 24"
      width="16"
      height="16"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.8"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden
    >
      <path d={d} />
    </svg>
  );
}

function EnvironmentSwitcher({ organizations }: { organizations: ShellOrganization[] }) {
  const params = useParams();
  const navigate = useNavigate();
  const current = params.orgSlug ? `/orgs/${params.orgSlug}/projects/${params.projectSlug}/env/${params.envSlug}` : "";
  const location = useLocation();
  const page = /\/(apikeys|realtime|schedules)$/.exec(location.pathname)?.[1] ?? "runs";
  const currentEnv = organizations
    .flatMap((o) => o.projects.flatMap((p) => p.environments.map((e) => ({ o, p, e }))))
    .find(({ o, p, e }) => o.slug === params.orgSlug && p.slug === params.projectSlug && e.slug === params.envSlug);
  return (
    <label className="switcher">
      <span className="switcher-caption">
        {currentEnv ? `${currentEnv.o.title} / ${currentEnv.p.name}` : "Environment"}
      </span>
      <select
        aria-label="Organisation, project and environment"
        value={current}
        onChange={(event) => navigate(`${event.target.value}/${page}`)}
        data-env-type={currentEnv?.e.type}
      >
        {current === "" ? <option value="">Choose an environment…</option> : null}
        {organizations.map((organization) =>
          organization.projects.map((project) => (
            <optgroup key={`${organization.slug}/${project.slug}`} label={`${organization.title} / ${project.name}`}>
              {project.environments.map((environment) => (
                <option
                  key={environment.slug}
                  value={`/orgs/${organization.slug}/projects/${project.slug}/env/${environment.slug}`}
                >
                  {ENV_LABEL[environment.type] ?? environment.slug} ({environment.slug})
                </option>
              ))}
            </optgroup>
          )),
        )}
      </select>
    </label>
  );
}
