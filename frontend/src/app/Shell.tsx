/** The signed-in frame: top bar with switchers and the user menu, side navigation, the page. */
import { useState, type ReactNode } from "react";
import { errorMessage } from "../api/client";
import { Dialog } from "../ui/Dialog";
import { useAuth } from "./auth";
import { ErrorBoundary } from "./ErrorBoundary";
import { Link, usePathname } from "./router";
import { useWorkspace } from "./workspace";

export const NAVIGATION = [
  { to: "/workflows", label: "Workflows" },
  { to: "/projects", label: "Projects" },
  { to: "/components", label: "Components" },
  { to: "/agent-prompts", label: "Agent prompts" },
  { to: "/task-queues", label: "Task queues & workers" },
  { to: "/executions", label: "Executions" },
  { to: "/statistics", label: "Statistics" },
  { to: "/api-keys", label: "API keys" },
  { to: "/settings", label: "Settings" },
];

function ProjectSwitcher() {
  const { projects, projectId, setProjectId, createProject } = useWorkspace();
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      await createProject(name.trim());
      setCreating(false);
      setName("");
      setError(null);
    } catch (reason) {
      setError(errorMessage(reason));
    }
  };

  return (
    <div className="switcher">
      <label htmlFor="project-switcher">Project</label>
      <select
        id="project-switcher"
        value={projectId ?? ""}
        onChange={(event) => {
          if (event.target.value === "__new") setCreating(true);
          else setProjectId(event.target.value || null);
        }}
      >
        <option value="">All projects</option>
        {projects.map((project) => (
          <option key={project.id} value={project.id}>
            {project.name}
          </option>
        ))}
        <option value="__new">+ New project…</option>
      </select>
      <Dialog open={creating} title="New project" onClose={() => setCreating(false)}>
        <form onSubmit={submit} className="form">
          <label htmlFor="new-project-name">Name</label>
          <input
            id="new-project-name"
            required
            data-autofocus
            value={name}
            onChange={(event) => setName(event.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "new-project-error" : undefined}
          />
          {error && (
            <p id="new-project-error" className="field-error">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" onClick={() => setCreating(false)}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={!name.trim()}>
              Create project
            </button>
          </div>
        </form>
      </Dialog>
    </div>
  );
}

function OrganizationSwitcher() {
  const { organizations, organizationId, setOrganizationId } = useWorkspace();
  return (
    <div className="switcher">
      <label htmlFor="organization-switcher">Organization</label>
      <select
        id="organization-switcher"
        value={organizationId ?? ""}
        disabled={organizations === null}
        title={organizations === null ? "Organizations are not available on this server yet" : undefined}
        onChange={(event) => setOrganizationId(event.target.value || null)}
      >
        <option value="">Personal</option>
        {(organizations ?? []).map((organization) => (
          <option key={organization.id} value={organization.id}>
            {organization.name}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Shell({ children, compact = false }: { children: ReactNode; compact?: boolean }) {
  const { me, signOut } = useAuth();
  const pathname = usePathname();
  return (
    <div className={compact ? "shell shell-compact" : "shell"}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/workflows" className="brand">
          Workflow Builder
        </Link>
        <OrganizationSwitcher />
        <ProjectSwitcher />
        <div className="topbar-user">
          <Link to="/settings" title={`${me?.email ?? ""}: settings`}>
            {me?.display_name || me?.email}
          </Link>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      {!compact && (
        <nav className="sidenav" aria-label="Main">
          <ul>
            {NAVIGATION.map((item) => {
              const active = pathname === item.to || pathname.startsWith(`${item.to}/`);
              return (
                <li key={item.to}>
                  <Link to={item.to} aria-current={active ? "page" : undefined}>
                    {item.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
      )}
      <main id="main" className={compact ? "content content-full" : "content"} tabIndex={-1}>
        <ErrorBoundary key={pathname}>{children}</ErrorBoundary>
      </main>
    </div>
  );
}
