/** Read-only catalog pages: components, agent prompts, task queues. */
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, errorMessage, type Page } from "../api/client";
import type { AgentPrompt, Component, ComponentType, TaskQueue, Worker } from "../api/types";
import { Link } from "../app/router";
import { useWorkspace } from "../app/workspace";
import { useAsync } from "../app/useAsync";
import { Dialog } from "../ui/Dialog";
import { Icon } from "../ui/Icon";
import { JsonField, mustBeObject } from "../ui/JsonField";
import { formatDate, modelsText } from "../ui/format";
import { LoadingRow } from "../ui/LoadingRow";

function useDebounced(value: string, ms = 250): string {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value.trim()), ms);
    return () => window.clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
}

function CatalogTable<T extends { id: string }>({
  title,
  lead,
  rows,
  columns,
  error,
  search,
  onSearch,
  filters,
  actions,
}: {
  actions?: ReactNode;
  title: string;
  lead: string;
  rows: T[] | undefined;
  columns: Column<T>[];
  error: string | null;
  search: string;
  onSearch: (value: string) => void;
  filters?: ReactNode;
}) {
  const id = title.toLowerCase().replace(/\W+/g, "-");
  return (
    <section aria-labelledby={`${id}-title`}>
      <div className="page-header">
        <h1 id={`${id}-title`}>{title}</h1>
        {actions}
      </div>
      <p className="lead">{lead}</p>
      <div className="filters" role="search">
        <label htmlFor={`${id}-search`} className="visually-hidden">
          Search {title.toLowerCase()}
        </label>
        <input
          id={`${id}-search`}
          type="search"
          placeholder="Search…"
          value={search}
          onChange={(event) => onSearch(event.target.value)}
        />
        {filters}
      </div>
      {error && (
        <p role="alert" className="form-error">
          {error}
        </p>
      )}
      <table className="table">
        <caption className="visually-hidden">{title}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th scope="col" key={column.header}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows?.map((row) => (
            <tr key={row.id}>
              {columns.map((column) => (
                <td key={column.header}>{column.cell(row)}</td>
              ))}
            </tr>
          ))}
          {rows === undefined && !error && <LoadingRow colSpan={columns.length} what={title.toLowerCase()} />}
          {rows && rows.length === 0 && (
            <tr>
              <td colSpan={columns.length} className="empty">
                Nothing here yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

const COMPONENT_NAME = /^[A-Za-z0-9_.@/-]+$/;

function NewComponentDialog({
  open,
  types,
  onClose,
  onCreated,
}: {
  open: boolean;
  types: ComponentType[];
  onClose: () => void;
  onCreated: () => void;
}) {
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [type, setType] = useState("activity");
  const [description, setDescription] = useState("");
  const [schemas, setSchemas] = useState<Record<string, unknown>>({
    config_schema: { type: "object", properties: {} },
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  const nameError =
    errors.name ?? (name && !COMPONENT_NAME.test(name) ? "Use letters, digits and . _ - @ / only." : null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      await api("/components", {
        method: "POST",
        body: { name, display_name: displayName || name, type, description: description || undefined, ...schemas },
      });
      onCreated();
      onClose();
      setName("");
      setDisplayName("");
      setDescription("");
    } catch (reason) {
      if (reason instanceof ApiError && reason.status === 409) setErrors({ name: reason.message });
      else if (reason instanceof ApiError && reason.problem.errors) {
        const byField: Record<string, string> = {};
        for (const item of reason.problem.errors) byField[String(item.loc[1] ?? "form")] = item.message;
        setErrors(byField);
      } else setErrors({ form: errorMessage(reason) });
    } finally {
      setBusy(false);
    }
  };

  const schemaField = (key: string, label: string) => (
    <JsonField
      label={label}
      hint="A JSON Schema (Draft 2020-12) object."
      value={schemas[key]}
      check={mustBeObject}
      onChange={(value) => setSchemas((current) => ({ ...current, [key]: value }))}
    />
  );

  return (
    <Dialog open={open} title="New component" onClose={onClose}>
      <form className="form dialog-scroll" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="component-name">Name</label>
          <input
            id="component-name"
            data-autofocus
            value={name}
            spellCheck={false}
            onChange={(event) => {
              setName(event.target.value);
              setErrors(({ name: _dropped, ...rest }) => rest);
            }}
            aria-invalid={nameError ? true : undefined}
            aria-describedby="component-name-error"
          />
          <p className="field-error" id="component-name-error">
            {nameError}
          </p>
        </div>
        <div className="field">
          <label htmlFor="component-display-name">Display name</label>
          <input
            id="component-display-name"
            value={displayName}
            onChange={(event) => setDisplayName(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="component-type">Type</label>
          <select id="component-type" value={type} onChange={(event) => setType(event.target.value)}>
            {types.map((t) => (
              <option key={t.id} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="component-description">Description</label>
          <textarea
            id="component-description"
            rows={2}
            value={description}
            onChange={(event) => setDescription(event.target.value)}
          />
        </div>
        {schemaField("config_schema", "Config schema")}
        {schemaField("input_schema", "Input schema")}
        {schemaField("output_schema", "Output schema")}
        {Object.entries(errors)
          .filter(([field]) => field !== "name")
          .map(([field, message]) => (
            <p key={field} role="alert" className="form-error">
              {field === "form" ? message : `${field}: ${message}`}
            </p>
          ))}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !name || Boolean(nameError)}>
            Create component
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function ComponentsPage() {
  const [creating, setCreating] = useState(false);
  const [search, setSearch] = useState("");
  const [type, setType] = useState("");
  const q = useDebounced(search);
  const types = useAsync(() => api<ComponentType[]>("/component-types"), "types");
  const components = useAsync(
    () => api<Page<Component>>("/components", { query: { q, type, limit: 200 } }),
    `${q}|${type}`,
  );
  const iconOf = (name: string) => types.data?.find((t) => t.name === name)?.icon;
  return (
    <>
      <CatalogTable
        title="Components"
        actions={
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New component
          </button>
        }
        lead="Reusable building blocks: activities, agents, signals and triggers."
        rows={components.data?.items}
        error={components.error}
        search={search}
        onSearch={setSearch}
        filters={
          <>
            <label htmlFor="component-type-filter">Type</label>
            <select id="component-type-filter" value={type} onChange={(event) => setType(event.target.value)}>
              <option value="">All</option>
              {types.data?.map((t) => (
                <option key={t.id} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </>
        }
        columns={[
          {
            header: "Name",
            cell: (c) => (
              <>
                <strong>{c.display_name}</strong>
                <div className="muted">
                  <code>{c.name}</code>
                </div>
              </>
            ),
          },
          {
            header: "Type",
            cell: (c) => (
              <span className="type-label">
                <Icon name={iconOf(c.type)} /> {c.type}
              </span>
            ),
          },
          { header: "Version", cell: (c) => c.version + (c.deprecated ? " (deprecated)" : "") },
          { header: "Visibility", cell: (c) => c.visibility },
          { header: "Updated", cell: (c) => formatDate(c.updated_at) },
        ]}
      />
      <NewComponentDialog
        open={creating}
        types={types.data ?? []}
        onClose={() => setCreating(false)}
        onCreated={components.reload}
      />
    </>
  );
}

export function AgentPromptsPage() {
  const [search, setSearch] = useState("");
  const q = useDebounced(search);
  const prompts = useAsync(() => api<Page<AgentPrompt>>("/agent-prompts", { query: { q, limit: 200 } }), q);
  return (
    <CatalogTable
      title="Agent prompts"
      actions={
        <Link to="/agent-prompts/new" className="button primary">
          New prompt
        </Link>
      }
      lead="Versioned prompt templates that agent components render. Open one to edit it and preview it rendered."
      rows={prompts.data?.items}
      error={prompts.error}
      search={search}
      onSearch={setSearch}
      columns={[
        {
          header: "Name",
          cell: (p) => (
            <>
              <Link to={`/agent-prompts/${p.id}`}>
                <strong>{p.display_name}</strong>
              </Link>
              <div className="muted">
                <code>{p.name}</code>
              </div>
            </>
          ),
        },
        { header: "Version", cell: (p) => p.version + (p.deprecated ? " (deprecated)" : "") },
        { header: "Recommended models", cell: (p) => modelsText(p.recommended_models) },
        { header: "Tags", cell: (p) => p.tags.join(", ") },
        { header: "Visibility", cell: (p) => p.visibility },
        { header: "Updated", cell: (p) => formatDate(p.updated_at) },
      ]}
    />
  );
}

const WORKER_POLL_MS = 2000;
// A worker whose heartbeat is older than this is shown as silent (the server reaps it later).
const SILENT_AFTER_MS = 15_000;

function ago(iso: string | null, now: number): string {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return formatDate(iso);
}

function WorkerState({ worker, now }: { worker: Worker; now: number }) {
  const fresh =
    worker.last_heartbeat_at !== null && now - new Date(worker.last_heartbeat_at).getTime() < SILENT_AFTER_MS;
  const state = worker.status !== "running" ? worker.status : fresh ? "live" : "silent";
  const symbol = { live: "●", silent: "◌", stopped: "■", error: "✕" }[state];
  return (
    <span className={`worker-state worker-${state}`} data-testid="worker-state">
      <span aria-hidden="true">{symbol}</span> {state}
    </span>
  );
}

function WorkersTable({ projectId, queueNames }: { projectId: string | null; queueNames: Map<string, string> }) {
  const { projects } = useWorkspace();
  const projectNames = new Map(projects.map((project) => [project.id, project.name]));
  const workers = useAsync(() => api<Worker[]>("/workers", { query: { project_id: projectId } }), `${projectId}`);
  const [now, setNow] = useState(() => Date.now());
  const { reload } = workers;
  useEffect(() => {
    const timer = window.setInterval(() => {
      reload();
      setNow(Date.now());
    }, WORKER_POLL_MS);
    return () => window.clearInterval(timer);
  }, [reload]);
  return (
    <section aria-labelledby="workers-title" className="workers">
      <h2 id="workers-title">Workers</h2>
      <p className="lead">Processes serving the task queues, refreshed every few seconds.</p>
      {workers.error && (
        <p role="alert" className="form-error">
          {workers.error}
        </p>
      )}
      <table className="table" data-testid="workers">
        <caption className="visually-hidden">Workers</caption>
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Project</th>
            <th scope="col">Task queue</th>
            <th scope="col">State</th>
            <th scope="col">Last heartbeat</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {workers.data?.map((worker) => (
            <tr key={worker.id}>
              <td className="nowrap">
                <code>{worker.worker_id.split("@")[0]}</code>
              </td>
              <td>{projectNames.get(worker.project_id) ?? <code>{worker.project_id}</code>}</td>
              <td>
                {queueNames.get(worker.task_queue_name) ?? ""}
                <div className="muted small">
                  <code>{worker.task_queue_name}</code>
                </div>
              </td>
              <td>
                <WorkerState worker={worker} now={now} />
                {worker.error_message && <div className="muted small">{worker.error_message}</div>}
              </td>
              <td title={worker.last_heartbeat_at ?? undefined}>{ago(worker.last_heartbeat_at, now)}</td>
              <td>{formatDate(worker.started_at)}</td>
            </tr>
          ))}
          {workers.loading && !workers.data && <LoadingRow colSpan={6} what="workers" />}
          {workers.data && workers.data.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                No worker has served these projects yet. Start one with <code>wfb worker</code>.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

export function TaskQueuesPage() {
  const { projectId } = useWorkspace();
  const [search, setSearch] = useState("");
  const q = useDebounced(search);
  const queues = useAsync(() => api<Page<TaskQueue>>("/task-queues", { query: { q, limit: 200 } }), q);
  return (
    <>
      <CatalogTable
        title="Task queues & workers"
        lead="Queues that workers take work from, with their concurrency limits."
        rows={queues.data?.items}
        error={queues.error}
        search={search}
        onSearch={setSearch}
        columns={[
          {
            header: "Queue",
            cell: (t) => (
              <>
                <strong>{t.display_name || t.name}</strong>
                <div className="muted">
                  <code>{t.name}</code>
                </div>
              </>
            ),
          },
          { header: "Kind", cell: (t) => (t.is_system_queue ? "System" : "Project") },
          { header: "Max workflows", cell: (t) => t.max_concurrent_workflows },
          { header: "Max activities", cell: (t) => t.max_concurrent_activities },
        ]}
      />
      <WorkersTable
        projectId={projectId}
        queueNames={new Map((queues.data?.items ?? []).map((t) => [t.name, t.display_name || t.name]))}
      />
    </>
  );
}
