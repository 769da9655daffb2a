/** Projects: create and rename them; each project's task queue and workers, and its secrets
 * and connections (names and kinds only: values are write-only). */
import { useState, type FormEvent } from "react";
import { api, errorMessage, type Page } from "../api/client";
import type { Project, TaskQueue, Worker } from "../api/types";
import { Link } from "../app/router";
import { useAsync } from "../app/useAsync";
import { useDocumentTitle } from "../app/useDocumentTitle";
import { useWorkspace } from "../app/workspace";
import { ConfirmDialog } from "../ui/Dialog";
import { formatDate } from "../ui/format";
import { ProblemAlert } from "../ui/ProblemAlert";

interface Secret {
  name: string;
  kind: "secret" | "connection";
  created_at: string;
  updated_at: string;
}

export function ProjectsPage() {
  const { createProject } = useWorkspace();
  const projects = useAsync(() => api<Page<Project>>("/projects", { query: { limit: 200, sort: "name" } }), "projects");
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await createProject(name.trim());
      setName("");
      projects.reload();
    } catch (reason) {
      setError(reason);
    }
  };

  return (
    <section aria-labelledby="projects-title">
      <div className="page-header">
        <h1 id="projects-title">Projects</h1>
      </div>
      <p className="lead">A project groups workflows with their own task queue, workers, secrets and connections.</p>
      <form className="inline-form" onSubmit={create}>
        <label htmlFor="project-name">Project name</label>
        <input id="project-name" value={name} maxLength={255} onChange={(event) => setName(event.target.value)} />
        <button type="submit" className="primary" disabled={!name.trim()}>
          Create project
        </button>
      </form>
      <ProblemAlert error={error} />
      {projects.loading && !projects.data && (
        <p className="muted" role="status">
          Loading projects…
        </p>
      )}
      {projects.error && (
        <p role="alert" className="form-error">
          {projects.error}
        </p>
      )}
      {projects.data && (
        <table className="table">
          <caption className="visually-hidden">Projects</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Task queue</th>
              <th scope="col">Runs</th>
            </tr>
          </thead>
          <tbody>
            {projects.data.items.map((project) => (
              <tr key={project.id}>
                <td>
                  <Link to={`/projects/${project.id}`}>{project.name}</Link>
                  {project.description && <div className="muted small">{project.description}</div>}
                </td>
                <td>
                  <code>{project.task_queue_name}</code>
                </td>
                <td>{project.total_workflow_executions}</td>
              </tr>
            ))}
            {projects.data.items.length === 0 && (
              <tr>
                <td colSpan={3} className="empty">
                  No projects yet. Create one above; new workflows can then go into it.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function ProjectPage({ projectId }: { projectId: string }) {
  const { reloadProjects } = useWorkspace();
  const project = useAsync(() => api<Project>(`/projects/${projectId}`), projectId);
  const queue = useAsync(async () => {
    if (!project.data) return undefined;
    const page = await api<Page<TaskQueue>>("/task-queues", { query: { q: project.data.task_queue_name, limit: 5 } });
    return page.items.find((q) => q.name === project.data?.task_queue_name);
  }, project.data?.task_queue_name ?? "");
  const workers = useAsync(() => api<Worker[]>("/workers", { query: { project_id: projectId } }), projectId);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const rename = async (event: FormEvent) => {
    event.preventDefault();
    if (renaming === null) return;
    setError(null);
    try {
      await api(`/projects/${projectId}`, { method: "PATCH", body: { name: renaming.trim() } });
      setRenaming(null);
      project.reload();
      reloadProjects();
    } catch (reason) {
      setError(reason);
    }
  };

  const data = project.data;
  useDocumentTitle(data ? `${data.name} · Projects` : "Project");
  return (
    <section aria-labelledby="project-title" className="project-page">
      <div className="page-header">
        {renaming === null ? (
          <>
            <h1 id="project-title">{data ? data.name : "Project"}</h1>
            <div className="actions-row">
              <Link to="/projects">All projects</Link>
              {data && (
                <button type="button" onClick={() => setRenaming(data.name)}>
                  Rename
                </button>
              )}
            </div>
          </>
        ) : (
          <form className="inline-form" onSubmit={rename}>
            <h1 id="project-title" className="visually-hidden">
              Rename {data?.name}
            </h1>
            <label htmlFor="project-rename">New name</label>
            <input
              id="project-rename"
              value={renaming}
              maxLength={255}
              autoFocus
              onChange={(event) => setRenaming(event.target.value)}
            />
            <button type="submit" className="primary" disabled={!renaming.trim()}>
              Save name
            </button>
            <button type="button" onClick={() => setRenaming(null)}>
              Cancel
            </button>
          </form>
        )}
      </div>
      <ProblemAlert error={error} />
      {project.loading && !data && (
        <p className="muted" role="status">
          Loading the project…
        </p>
      )}
      {project.error && (
        <p role="alert" className="form-error">
          {project.error}
        </p>
      )}
      {data && (
        <>
          <section aria-labelledby="queue-title" className="card-section">
            <h2 id="queue-title">Task queue and workers</h2>
            <dl className="facts facts-inline">
              <dt>Task queue</dt>
              <dd>
                <code>{data.task_queue_name}</code>
              </dd>
              {queue.data && (
                <>
                  <dt>Limits</dt>
                  <dd>
                    {queue.data.max_concurrent_workflows} runs, {queue.data.max_concurrent_activities} calls at once
                  </dd>
                </>
              )}
              <dt>Runs</dt>
              <dd>{data.total_workflow_executions}</dd>
            </dl>
            {workers.loading && !workers.data && (
              <p className="muted" role="status">
                Loading workers…
              </p>
            )}
            {workers.data && workers.data.length === 0 && (
              <p className="muted">
                No worker has served this project yet: run <code>wfb worker --project {data.id}</code> (or{" "}
                <code>wfb up</code>, which serves every project).
              </p>
            )}
            {workers.data && workers.data.length > 0 && (
              <table className="table" aria-label="Workers">
                <thead>
                  <tr>
                    <th scope="col">Worker</th>
                    <th scope="col">Status</th>
                    <th scope="col">Last heartbeat</th>
                  </tr>
                </thead>
                <tbody>
                  {workers.data.map((worker) => (
                    <tr key={worker.id}>
                      <td>
                        <code>{worker.worker_id}</code>
                      </td>
                      <td>{worker.status}</td>
                      <td>{worker.last_heartbeat_at ? formatDate(worker.last_heartbeat_at) : "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <SecretsSection projectId={projectId} />
        </>
      )}
    </section>
  );
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function SecretsSection({ projectId }: { projectId: string }) {
  const secrets = useAsync(() => api<Secret[]>(`/projects/${projectId}/secrets`), projectId);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"secret" | "connection">("secret");
  const [value, setValue] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Secret | null>(null);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    let body: unknown = value;
    if (kind === "connection") {
      try {
        body = JSON.parse(value);
      } catch (reason) {
        setError(new Error(`A connection's settings are a JSON object: ${errorMessage(reason)}`));
        return;
      }
    }
    try {
      await api(`/projects/${projectId}/secrets/${encodeURIComponent(name.trim())}`, {
        method: "PUT",
        body: { kind, value: body },
      });
      setNotice(`Saved ${name.trim()}. Its value is stored encrypted and is never shown again.`);
      setName("");
      setValue("");
      secrets.reload();
    } catch (reason) {
      setError(reason);
    }
  };

  const remove = async (secret: Secret) => {
    setDeleting(null);
    try {
      await api(`/projects/${projectId}/secrets/${encodeURIComponent(secret.name)}`, { method: "DELETE" });
      secrets.reload();
    } catch (reason) {
      setError(reason);
    }
  };

  const nameProblem =
    name && !NAME_PATTERN.test(name.trim()) ? "Letters, digits, _ . - ; not starting with a digit." : null;
  return (
    <section aria-labelledby="secrets-title" className="card-section">
      <h2 id="secrets-title">Secrets and connections</h2>
      <p className="hint">
        Nodes refer to a secret as <code>{'{"$secret": "NAME"}'}</code>. Values are write-only: you can replace or
        delete them, never read them back. A connection holds settings (e.g. a database URL) as a JSON object.
      </p>
      {secrets.loading && !secrets.data && (
        <p className="muted" role="status">
          Loading secrets…
        </p>
      )}
      {secrets.data && (
        <table className="table" aria-label="Secrets">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Updated</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {secrets.data.map((secret) => (
              <tr key={secret.name}>
                <td>
                  <code>{secret.name}</code>
                </td>
                <td>{secret.kind}</td>
                <td>{formatDate(secret.updated_at)}</td>
                <td className="actions-cell">
                  <button
                    type="button"
                    onClick={() => {
                      setName(secret.name);
                      setKind(secret.kind);
                      setValue("");
                    }}
                  >
                    Replace value
                  </button>
                  <button type="button" className="danger" onClick={() => setDeleting(secret)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {secrets.data.length === 0 && (
              <tr>
                <td colSpan={4} className="empty">
                  No secrets yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      <form className="form secret-form" onSubmit={save} aria-label="Add or replace a secret">
        <div className="field">
          <label htmlFor="secret-name">Name</label>
          <input
            id="secret-name"
            value={name}
            maxLength={255}
            autoComplete="off"
            onChange={(event) => setName(event.target.value)}
            aria-invalid={nameProblem ? true : undefined}
          />
          <p className="field-error">{nameProblem}</p>
        </div>
        <div className="field">
          <label htmlFor="secret-kind">Kind</label>
          <select
            id="secret-kind"
            value={kind}
            onChange={(event) => setKind(event.target.value as "secret" | "connection")}
          >
            <option value="secret">Secret (a string)</option>
            <option value="connection">Connection (JSON settings)</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="secret-value">Value</label>
          {kind === "secret" ? (
            <input
              id="secret-value"
              type="password"
              autoComplete="new-password"
              value={value}
              onChange={(event) => setValue(event.target.value)}
            />
          ) : (
            <textarea
              id="secret-value"
              className="code"
              rows={4}
              spellCheck={false}
              placeholder='{"url": {"$secret": "DB_URL"}}'
              value={value}
              onChange={(event) => setValue(event.target.value)}
            />
          )}
        </div>
        <button type="submit" className="primary" disabled={!name.trim() || !value || Boolean(nameProblem)}>
          Save secret
        </button>
      </form>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <ProblemAlert error={error} />
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this secret?"
        message={`Nodes that refer to ${deleting?.name ?? ""} will fail until it exists again.`}
        confirmLabel="Delete secret"
        onConfirm={() => deleting && void remove(deleting)}
        onCancel={() => setDeleting(null)}
      />
    </section>
  );
}
