/** Write an agent prompt and see it rendered by the server's sandboxed template engine with
 * sample variables (checked against the prompt's variable schema). */
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError } from "../api/client";
import type { AgentPrompt } from "../api/types";
import { Link } from "../app/router";
import { useAsync } from "../app/useAsync";
import { modelsText } from "../ui/format";
import { ProblemAlert } from "../ui/ProblemAlert";

interface PromptDetail extends AgentPrompt {
  prompt_content: string;
  prompt_variables: Record<string, unknown>;
}

function parseModels(text: string): string[] {
  return text
    .split(",")
    .map((model) => model.trim())
    .filter(Boolean);
}

const NAME = /^[A-Za-z0-9_.@/-]+$/;

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = text.trim() ? JSON.parse(text) : {};
  } catch (reason) {
    throw new Error(`${what}: not valid JSON (${reason instanceof Error ? reason.message : String(reason)})`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error(`${what}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/** Sample values for a variables schema: each property's example, default, or a placeholder. */
function sampleVariables(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  return Object.fromEntries(
    Object.entries(properties).map(([name, property]) => {
      const examples = property.examples as unknown[] | undefined;
      if (examples?.length) return [name, examples[0]];
      if ("default" in property) return [name, property.default];
      return [name, property.type === "number" || property.type === "integer" ? 1 : `<${name}>`];
    }),
  );
}

export function PromptEditorPage({ promptId: openedId }: { promptId: string | null }) {
  // A new prompt gets its id on the first save; the page stays (with its preview) while the
  // address becomes the prompt's own, so a reload opens it.
  const [createdId, setCreatedId] = useState<string | null>(null);
  const promptId = openedId ?? createdId;
  const existing = useAsync(
    () => (openedId ? api<PromptDetail>(`/agent-prompts/${openedId}`) : Promise.resolve(null)),
    openedId ?? "new",
  );
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [content, setContent] = useState("");
  const [schemaText, setSchemaText] = useState('{\n  "type": "object",\n  "properties": {}\n}');
  const [samplesText, setSamplesText] = useState("{}");
  const [models, setModels] = useState("");
  const [dirty, setDirty] = useState(promptId === null);
  const [error, setError] = useState<unknown>(null);
  const [previewError, setPreviewError] = useState<unknown>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const prompt = existing.data;
    if (!prompt) return;
    setName(prompt.name);
    setDisplayName(prompt.display_name);
    setContent(prompt.prompt_content);
    setSchemaText(JSON.stringify(prompt.prompt_variables ?? {}, null, 2));
    setModels(modelsText(prompt.recommended_models));
    setSamplesText(JSON.stringify(sampleVariables(prompt.prompt_variables ?? {}), null, 2));
    setDirty(false);
  }, [existing.data]);

  const edit = (setter: (value: string) => void) => (value: string) => {
    setter(value);
    setDirty(true);
    setSaved(null);
  };

  /** Save the prompt (create it the first time); return its id. */
  const save = async (): Promise<string> => {
    const body = {
      display_name: displayName || name,
      prompt_content: content,
      prompt_variables: parseObject(schemaText, "Variables schema"),
      recommended_models: parseModels(models),
    };
    if (promptId) {
      await api(`/agent-prompts/${promptId}`, { method: "PATCH", body });
      setDirty(false);
      return promptId;
    }
    const created = await api<PromptDetail>("/agent-prompts", { method: "POST", body: { name, ...body } });
    setDirty(false);
    setCreatedId(created.id);
    window.history.replaceState(null, "", `/agent-prompts/${created.id}`);
    return created.id;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await save();
      setSaved("Saved.");
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };

  const render = async () => {
    setBusy(true);
    setPreviewError(null);
    setError(null);
    try {
      const variables = parseObject(samplesText, "Sample variables");
      let id = promptId;
      if (dirty || !id) {
        try {
          id = await save();
        } catch (reason) {
          setError(reason);
          return;
        }
      }
      const result = await api<{ content: string }>(`/agent-prompts/${id}/render`, {
        method: "POST",
        body: { variables },
      });
      setPreview(result.content);
    } catch (reason) {
      setPreview(null);
      setPreviewError(reason);
    } finally {
      setBusy(false);
    }
  };

  const nameError = !promptId && name && !NAME.test(name) ? "Use letters, digits and . _ - @ / only." : null;
  const conflict = error instanceof ApiError && error.status === 409;
  return (
    <section aria-labelledby="prompt-title">
      <div className="page-header">
        <h1 id="prompt-title">{promptId ? `Prompt ${displayName || name}` : "New agent prompt"}</h1>
        <Link to="/agent-prompts">All agent prompts</Link>
      </div>
      {existing.error && (
        <p role="alert" className="form-error">
          {existing.error}
        </p>
      )}
      <div className="prompt-editor">
        <form className="form" onSubmit={submit} noValidate aria-label="Prompt">
          {!promptId && (
            <div className="field">
              <label htmlFor="prompt-name">Name</label>
              <input
                id="prompt-name"
                value={name}
                spellCheck={false}
                onChange={(event) => edit(setName)(event.target.value)}
                aria-invalid={nameError || conflict ? true : undefined}
                aria-describedby="prompt-name-error"
              />
              <p className="field-error" id="prompt-name-error">
                {nameError}
              </p>
            </div>
          )}
          <div className="field">
            <label htmlFor="prompt-display-name">Display name</label>
            <input
              id="prompt-display-name"
              value={displayName}
              onChange={(event) => edit(setDisplayName)(event.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="prompt-content">Template</label>
            <textarea
              id="prompt-content"
              className="code"
              rows={10}
              spellCheck={false}
              value={content}
              onChange={(event) => edit(setContent)(event.target.value)}
            />
            <p className="hint">
              Jinja syntax: {"{{ name }}"}, {"{% if %}"}, {"{% for %}"}; rendered in a sandbox.
            </p>
          </div>
          <div className="field">
            <label htmlFor="prompt-models">Recommended models</label>
            <input
              id="prompt-models"
              value={models}
              spellCheck={false}
              placeholder="gpt-4o-mini, claude-3-5-haiku-20241022"
              aria-describedby="prompt-models-hint"
              onChange={(event) => edit(setModels)(event.target.value)}
            />
            <p className="hint" id="prompt-models-hint">
              Comma-separated; shown to whoever builds an agent on this prompt.
            </p>
          </div>
          <div className="field">
            <label htmlFor="prompt-variables">Variables schema (JSON Schema)</label>
            <textarea
              id="prompt-variables"
              className="code"
              rows={6}
              spellCheck={false}
              value={schemaText}
              onChange={(event) => edit(setSchemaText)(event.target.value)}
            />
          </div>
          <ProblemAlert error={error} testId="prompt-error" />
          {saved && (
            <p role="status" className="notice notice-success">
              {saved}
            </p>
          )}
          <div className="actions-row">
            <button
              type="submit"
              className="primary"
              disabled={busy || !content || (!promptId && !name) || Boolean(nameError)}
            >
              Save prompt
            </button>
            <span className="muted small" data-testid="prompt-save-state">
              {dirty ? "Unsaved changes" : "Saved"}
            </span>
          </div>
        </form>
        <div className="form" aria-label="Preview">
          <div className="field">
            <label htmlFor="prompt-samples">Sample variables (JSON)</label>
            <textarea
              id="prompt-samples"
              className="code"
              rows={6}
              spellCheck={false}
              value={samplesText}
              onChange={(event) => setSamplesText(event.target.value)}
            />
          </div>
          <div className="actions-row">
            <button type="button" onClick={() => void render()} disabled={busy || !content || (!promptId && !name)}>
              {dirty ? "Save and preview" : "Preview"}
            </button>
          </div>
          <ProblemAlert error={previewError} testId="preview-error" />
          <h2>Rendered</h2>
          <pre className="prompt-preview" data-testid="prompt-preview" aria-live="polite">
            {preview ?? "Preview the prompt to see it rendered with the sample variables."}
          </pre>
        </div>
      </div>
    </section>
  );
}
