/** Workflows of the current project: status chips, search and status filter, create dialog. */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "../api/client";
import { hasRoute } from "../api/capabilities";
import type { Workflow, WorkflowStatus } from "../api/types";
import { createWorkflow, KEBAB_NAME, listWorkflows } from "../api/workflows";
import { Link, navigate } from "../app/router";
import { useAsync } from "../app/useAsync";
import { useWorkspace } from "../app/workspace";
import { ConfirmDialog, Dialog } from "../ui/Dialog";
import { formatDate } from "../ui/format";
import { ProblemAlert } from "../ui/ProblemAlert";
import { BLANK, TEMPLATES } from "../builder/templates";
import { ComingSoon } from "./ComingSoon";
import { LoadingRow } from "../ui/LoadingRow";

/** A kebab-case name suggested from a display name ("Order Intake" → "order-intake"). */
export function kebabFrom(text: string): string {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[-0-9]+|-+$/g, "");
}

export function kebabProblem(value: string): string | null {
  if (!value) return "Required.";
  if (KEBAB_NAME.test(value)) return null;
  if (/[A-Z]/.test(value)) return "Use lowercase letters only.";
  if (!/^[a-z]/.test(value)) return "Start with a lowercase letter.";
  if (/--/.test(value) || value.endsWith("-")) return "Hyphens go between words, one at a time.";
  return "Use lowercase letters, digits and single hyphens (e.g. order-intake).";
}

/** Create a draft from an exported workflow file, then open it in the builder. */
function ImportButton({ projectId }: { projectId: string | null }) {
  const input = useRef<HTMLInputElement>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const importFile = async (file: File) => {
    setError(null);
    setBusy(true);
    try {
      let document: unknown;
      try {
        document = JSON.parse(await file.text());
      } catch (reason) {
        throw new Error(`${file.name} is not a workflow file (not JSON: ${errorMessage(reason)})`);
      }
      const body = { ...(document as object), ...(projectId ? { project_id: projectId } : {}) };
      const created = await api<Workflow>("/workflows/import", { method: "POST", body });
      navigate(`/workflows/${created.id}`);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
      if (input.current) input.current.value = "";
    }
  };

  return (
    <>
      <input
        ref={input}
        type="file"
        accept="application/json,.json"
        hidden
        aria-label="Workflow file to import"
        onChange={(event) => {
          const file = event.target.files?.[0];
          if (file) void importFile(file);
        }}
      />
      <button type="button" disabled={busy} onClick={() => input.current?.click()}>
        Import from file
      </button>
      {error !== null && (
        <div className="import-error">
          <ProblemAlert error={error} />
        </div>
      )}
    </>
  );
}

function TemplatePicker({ value, onChange }: { value: string; onChange: (key: string) => void }) {
  const chosen = TEMPLATES.find((t) => t.key === value) ?? BLANK;
  return (
    <div className="field">
      <label htmlFor="workflow-template">Start from</label>
      <select id="workflow-template" value={value} onChange={(event) => onChange(event.target.value)}>
        {TEMPLATES.map((template) => (
          <option key={template.key} value={template.key}>
            {template.key === BLANK.key ? "Blank workflow" : `Template: ${template.title}`}
          </option>
        ))}
      </select>
      <p className="hint" data-testid="template-description">
        {chosen.description}
        {chosen.needs && <> Needs: {chosen.needs}</>}
      </p>
    </div>
  );
}

export function StatusChip({ name, statuses }: { name: string; statuses: WorkflowStatus[] | undefined }) {
  const color = statuses?.find((s) => s.name === name)?.color ?? "#6b7280";
  return (
    <span className="chip" style={{ ["--chip-color" as string]: color }} data-status={name}>
      {name}
    </span>
  );
}

function CreateWorkflowDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { projectId, organizationId } = useWorkspace();
  const [displayName, setDisplayName] = useState("");
  const [kebab, setKebab] = useState("");
  const [kebabTouched, setKebabTouched] = useState(false);
  const [description, setDescription] = useState("");
  const [templateKey, setTemplateKey] = useState(BLANK.key);
  const [serverKebabError, setServerKebabError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const kebabError = serverKebabError ?? (kebab || kebabTouched ? kebabProblem(kebab) : null);

  const reset = () => {
    setDisplayName("");
    setKebab("");
    setKebabTouched(false);
    setDescription("");
    setTemplateKey(BLANK.key);
    setServerKebabError(null);
    setError(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setKebabTouched(true);
    if (kebabProblem(kebab) || !displayName.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const workflow = await createWorkflow({
        name: kebab,
        kebab_name: kebab,
        display_name: displayName.trim(),
        description: description.trim() || undefined,
        project_id: projectId,
        definition: structuredClone((TEMPLATES.find((t) => t.key === templateKey) ?? BLANK).definition),
        ...(organizationId ? { visibility: "organization" as const, organization_id: organizationId } : {}),
      });
      reset();
      onClose();
      navigate(`/workflows/${workflow.id}`);
    } catch (reason) {
      if (reason instanceof ApiError && reason.status === 409) {
        setServerKebabError(`A workflow named "${kebab}" already exists.`);
      } else if (reason instanceof ApiError && reason.status === 422) {
        const message = reason.fieldMessage("/kebab_name") ?? reason.fieldMessage("/name");
        if (message) setServerKebabError(message);
        else setError(errorMessage(reason));
      } else {
        setError(errorMessage(reason));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      open={open}
      title="New workflow"
      onClose={() => {
        reset();
        onClose();
      }}
    >
      <form onSubmit={submit} className="form" noValidate>
        <div className="field">
          <label htmlFor="workflow-display-name">Display name</label>
          <input
            id="workflow-display-name"
            data-autofocus
            required
            value={displayName}
            onChange={(event) => {
              setDisplayName(event.target.value);
              if (!kebabTouched) {
                setKebab(kebabFrom(event.target.value));
                setServerKebabError(null);
              }
            }}
          />
        </div>
        <div className="field">
          <label htmlFor="workflow-kebab-name">Kebab name</label>
          <input
            id="workflow-kebab-name"
            required
            value={kebab}
            spellCheck={false}
            aria-invalid={kebabError ? true : undefined}
            aria-describedby="workflow-kebab-hint workflow-kebab-error"
            onChange={(event) => {
              setKebab(event.target.value);
              setKebabTouched(true);
              setServerKebabError(null);
            }}
          />
          <p className="hint" id="workflow-kebab-hint">
            The workflow's permanent identifier, e.g. <code>order-intake</code>. It cannot change later.
          </p>
          <p className="field-error" id="workflow-kebab-error" aria-live="polite">
            {kebabError}
          </p>
        </div>
        <div className="field">
          <label htmlFor="workflow-description">Description</label>
          <textarea
            id="workflow-description"
            rows={3}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
          />
        </div>
        <TemplatePicker value={templateKey} onChange={setTemplateKey} />
        {error && (
          <p role="alert" className="form-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button
            type="button"
            onClick={() => {
              reset();
              onClose();
            }}
          >
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !displayName.trim() || Boolean(kebabError)}>
            Create workflow
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function WorkflowsPage() {
  const { projectId, projects, organizationId } = useWorkspace();
  const [available, setAvailable] = useState<boolean | null>(null);
  const [search, setSearch] = useState("");
  const [query, setQuery] = useState("");
  const [status, setStatus] = useState("");
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Workflow | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const statuses = useAsync(() => api<WorkflowStatus[]>("/workflow-statuses"), "statuses");

  useEffect(() => {
    void hasRoute("/api/v1/workflows").then(setAvailable);
  }, []);

  useEffect(() => {
    const timer = window.setTimeout(() => setQuery(search.trim()), 250);
    return () => window.clearTimeout(timer);
  }, [search]);

  const workflows = useAsync(
    () =>
      available
        ? listWorkflows({ q: query, status, project_id: projectId, organization_id: organizationId })
        : Promise.resolve(null),
    `${available}|${query}|${status}|${projectId}|${organizationId}`,
  );

  if (available === false) return <ComingSoon title="Workflows" />;
  const project = projects.find((p) => p.id === projectId);

  return (
    <section aria-labelledby="workflows-title">
      <div className="page-header">
        <h1 id="workflows-title">Workflows</h1>
        <div className="actions-row">
          <ImportButton projectId={projectId} />
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New workflow
          </button>
        </div>
      </div>
      {project && <p className="lead">In project {project.name}.</p>}
      <div className="filters" role="search">
        <label htmlFor="workflow-search" className="visually-hidden">
          Search workflows
        </label>
        <input
          id="workflow-search"
          type="search"
          placeholder="Search by name…"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <label htmlFor="workflow-status-filter">Status</label>
        <select id="workflow-status-filter" value={status} onChange={(event) => setStatus(event.target.value)}>
          <option value="">All</option>
          {statuses.data?.map((s) => (
            <option key={s.id} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
      </div>
      {deleteError && (
        <p role="alert" className="form-error">
          {deleteError}
        </p>
      )}
      {workflows.error && (
        <p role="alert" className="form-error">
          {workflows.error}
        </p>
      )}
      <table className="table">
        <caption className="visually-hidden">Workflows</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Kebab name</th>
            <th scope="col">Status</th>
            <th scope="col">Version</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {workflows.data?.items.map((workflow) => (
            <tr key={workflow.id}>
              <td>
                <Link to={`/workflows/${workflow.id}`}>{workflow.display_name || workflow.name}</Link>
                {workflow.description && <div className="muted">{workflow.description}</div>}
              </td>
              <td>
                <code>{workflow.kebab_name}</code>
              </td>
              <td>
                <StatusChip name={workflow.status} statuses={statuses.data} />
              </td>
              <td>{workflow.version}</td>
              <td>{formatDate(workflow.updated_at)}</td>
              <td className="actions">
                <button
                  type="button"
                  className="danger"
                  aria-label={`Delete ${workflow.display_name || workflow.name}`}
                  onClick={() => setDeleting(workflow)}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
          {workflows.loading && !workflows.data && <LoadingRow colSpan={6} what="workflows" />}
          {workflows.data && workflows.data.items.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                {query || status ? "No workflow matches." : "No workflows yet. Create one to open the builder."}
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <CreateWorkflowDialog open={creating} onClose={() => setCreating(false)} />
      <ConfirmDialog
        open={deleting !== null}
        title="Delete workflow"
        message={`Delete "${deleting?.display_name || deleting?.name}" with everything declared on it? This cannot be undone.`}
        confirmLabel="Delete"
        onCancel={() => setDeleting(null)}
        onConfirm={() => {
          const doomed = deleting;
          setDeleting(null);
          if (!doomed) return;
          api(`/workflows/${doomed.id}`, { method: "DELETE" })
            .then(() => setDeleteError(null))
            .catch((reason: unknown) => setDeleteError(errorMessage(reason)))
            .finally(workflows.reload);
        }}
      />
    </section>
  );
}
