/** Read-only catalog pages: components, agent prompts, task queues. */
import { useEffect, useState, type ReactNode } from "react";
import { api, type Page } from "../api/client";
import type { AgentPrompt, Component, ComponentType, TaskQueue } from "../api/types";
import { useAsync } from "../app/useAsync";
import { Icon } from "../ui/Icon";
import { formatDate } from "../ui/format";

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
}: {
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

export function ComponentsPage() {
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
    <CatalogTable
      title="Components"
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
  );
}

export function AgentPromptsPage() {
  const [search, setSearch] = useState("");
  const q = useDebounced(search);
  const prompts = useAsync(() => api<Page<AgentPrompt>>("/agent-prompts", { query: { q, limit: 200 } }), q);
  return (
    <CatalogTable
      title="Agent prompts"
      lead="Versioned prompt templates that agent components render."
      rows={prompts.data?.items}
      error={prompts.error}
      search={search}
      onSearch={setSearch}
      columns={[
        {
          header: "Name",
          cell: (p) => (
            <>
              <strong>{p.display_name}</strong>
              <div className="muted">
                <code>{p.name}</code>
              </div>
            </>
          ),
        },
        { header: "Version", cell: (p) => p.version + (p.deprecated ? " (deprecated)" : "") },
        { header: "Tags", cell: (p) => p.tags.join(", ") },
        { header: "Visibility", cell: (p) => p.visibility },
        { header: "Updated", cell: (p) => formatDate(p.updated_at) },
      ]}
    />
  );
}

export function TaskQueuesPage() {
  const [search, setSearch] = useState("");
  const q = useDebounced(search);
  const queues = useAsync(() => api<Page<TaskQueue>>("/task-queues", { query: { q, limit: 200 } }), q);
  return (
    <CatalogTable
      title="Task queues & workers"
      lead="Queues that workers take work from, with their concurrency limits. Worker status is coming soon."
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
  );
}
