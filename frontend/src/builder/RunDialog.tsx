/** Start a run of the deployed workflow with JSON inputs (checked by the server against the
 * trigger's input schema). */
import Form from "@rjsf/core";
import type { RJSFSchema } from "@rjsf/utils";
import { useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "../api/client";
import type { Execution, JsonSchema } from "../api/types";
import { Link } from "../app/router";
import { Dialog } from "../ui/Dialog";
import { FORM_TEMPLATES } from "./formTemplates";
import { formValidator } from "./formValidator";

const HIDE_SUBMIT = { "ui:submitButtonOptions": { norender: true } };

function hasProperties(schema: JsonSchema | undefined): schema is JsonSchema {
  const properties = schema?.properties;
  return Boolean(properties && typeof properties === "object" && Object.keys(properties).length > 0);
}

function parsedOrEmpty(text: string): unknown {
  try {
    return JSON.parse(text || "{}");
  } catch {
    return {};
  }
}

/** With an input schema naming its properties, the inputs are a generated form (the JSON text
 * stays one click away); otherwise JSON. */
export function RunDialog({
  open,
  workflowId,
  inputSchema,
  onClose,
  test,
}: {
  open: boolean;
  workflowId: string;
  inputSchema?: JsonSchema;
  onClose: () => void;
  /** A test run of the saved draft instead of a run of the deployed version. */
  test?: { initialInputs: unknown; onStarted: (execution: Execution) => void };
}) {
  const [text, setText] = useState(() => (test ? JSON.stringify(test.initialInputs ?? {}, null, 2) : "{}"));
  const [asJson, setAsJson] = useState(false);
  const generated = hasProperties(inputSchema) && !asJson;
  const [error, setError] = useState<string | null>(null);
  const [started, setStarted] = useState<Execution | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let inputs: unknown;
    try {
      inputs = JSON.parse(text || "{}");
    } catch (reason) {
      setError(`Not valid JSON: ${errorMessage(reason)}`);
      return;
    }
    if (!inputs || typeof inputs !== "object" || Array.isArray(inputs)) {
      setError("Expected a JSON object.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const path = test ? `/workflows/${workflowId}/test-runs` : `/workflows/${workflowId}/executions`;
      const execution = await api<Execution>(path, { method: "POST", body: { inputs } });
      if (test) {
        test.onStarted(execution);
        onClose();
        return;
      }
      setStarted(execution);
    } catch (reason) {
      const details = reason instanceof ApiError ? reason.problem.errors?.map((e) => e.message).join("; ") : null;
      setError(details || errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  const close = () => {
    setStarted(null);
    setError(null);
    onClose();
  };

  return (
    <Dialog open={open} title={test ? "Test run of the draft" : "Start a run"} onClose={close}>
      {started ? (
        <div className="form">
          <p role="status">
            Run <code>{started.id}</code> is {started.status}.
          </p>
          <div className="dialog-actions">
            <Link to={`/executions/${started.id}`}>Watch this run</Link>
            <Link to="/executions">See executions</Link>
            <button type="button" className="primary" data-autofocus onClick={close}>
              Close
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={submit} noValidate>
          {generated ? (
            <fieldset className="payload-form" aria-label="Inputs">
              <legend>Inputs</legend>
              <Form
                idPrefix="run-input"
                schema={inputSchema as RJSFSchema}
                uiSchema={HIDE_SUBMIT}
                validator={formValidator}
                templates={FORM_TEMPLATES}
                formData={parsedOrEmpty(text)}
                onChange={(event) => setText(JSON.stringify(event.formData ?? {}))}
                tagName="div"
                noHtml5Validate
                showErrorList={false}
              />
            </fieldset>
          ) : (
            <div className="field">
              <label htmlFor="run-inputs">Inputs (JSON)</label>
              <textarea
                id="run-inputs"
                className="code"
                rows={6}
                spellCheck={false}
                data-autofocus
                value={text}
                onChange={(event) => setText(event.target.value)}
                aria-invalid={error ? true : undefined}
                aria-describedby="run-inputs-error"
              />
            </div>
          )}
          <p className="field-error" id="run-inputs-error">
            {error}
          </p>
          {hasProperties(inputSchema) && (
            <button type="button" className="link-button" onClick={() => setAsJson(!asJson)}>
              {asJson ? "Use the form" : "Edit as JSON"}
            </button>
          )}
          <div className="dialog-actions">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={busy}>
              {test ? "Start test run" : "Start run"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
