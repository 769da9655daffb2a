/** What a user can do to a run besides cancel and retry: send one of its declared signals (with
 * a payload form from the signal's schema), ask one of its queries, add work-queue items. */
import Form from "@rjsf/core";
import { useId, useState, type FormEvent } from "react";
import { api } from "../api/client";
import type { JsonSchema, QueryDeclaration, SignalDeclaration, WorkQueueDeclaration } from "../api/types";
import { FORM_TEMPLATES } from "../builder/formTemplates";
import { formValidator } from "../builder/formValidator";
import { ProblemAlert } from "../ui/ProblemAlert";

export interface Declared {
  signals: SignalDeclaration[];
  queries: QueryDeclaration[];
  workQueues: WorkQueueDeclaration[];
}

function hasProperties(schema: JsonSchema | null | undefined): schema is JsonSchema {
  const properties = schema?.properties;
  return Boolean(properties && typeof properties === "object" && Object.keys(properties).length > 0);
}

/** A value for a JSON Schema: a generated form when the schema names its properties, else JSON. */
function PayloadField({
  schema,
  label,
  value,
  onChange,
}: {
  schema: JsonSchema | null | undefined;
  label: string;
  value: unknown;
  onChange: (value: unknown, error: string | null) => void;
}) {
  const id = useId();
  const [text, setText] = useState(() => JSON.stringify(value ?? {}, null, 2));
  if (hasProperties(schema)) {
    return (
      <fieldset className="payload-form" aria-label={label}>
        <legend>{label}</legend>
        <Form
          schema={schema}
          validator={formValidator}
          templates={FORM_TEMPLATES}
          formData={value ?? {}}
          onChange={(event) => onChange(event.formData, null)}
          tagName="div"
          liveOmit
        />
      </fieldset>
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>{label} (JSON)</label>
      <textarea
        id={id}
        className="code"
        rows={3}
        spellCheck={false}
        value={text}
        onChange={(event) => {
          setText(event.target.value);
          try {
            onChange(event.target.value.trim() ? JSON.parse(event.target.value) : null, null);
          } catch (reason) {
            onChange(null, `Not valid JSON: ${reason instanceof Error ? reason.message : String(reason)}`);
          }
        }}
      />
    </div>
  );
}

function SignalForm({
  executionId,
  signals,
  onDone,
}: {
  executionId: string;
  signals: SignalDeclaration[];
  onDone: () => void;
}) {
  const [name, setName] = useState(signals[0]?.name ?? "");
  const [payload, setPayload] = useState<unknown>({});
  const [parseError, setParseError] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState<string | null>(null);
  const signal = signals.find((s) => s.name === name);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setSent(null);
    if (parseError) return setError(new Error(parseError));
    try {
      await api(`/executions/${executionId}/signals/${encodeURIComponent(name)}`, { method: "POST", body: payload });
      setSent(`Signal ${name} sent.`);
      onDone();
    } catch (reason) {
      setError(reason);
    }
  };
  return (
    <form className="form run-operation" onSubmit={submit} noValidate aria-labelledby="signal-title">
      <h3 id="signal-title">Send a signal</h3>
      <div className="field">
        <label htmlFor="signal-name">Signal</label>
        <select
          id="signal-name"
          value={name}
          onChange={(event) => {
            setName(event.target.value);
            setPayload({});
          }}
        >
          {signals.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
              {s.work_queue ? ` (adds to ${s.work_queue})` : ""}
            </option>
          ))}
        </select>
        {signal?.description && <p className="hint">{signal.description}</p>}
      </div>
      <PayloadField
        key={name}
        schema={signal?.parameters}
        label="Payload"
        value={payload}
        onChange={(value, problem) => {
          setPayload(value);
          setParseError(problem);
        }}
      />
      <ProblemAlert error={error} testId="signal-error" />
      {sent && (
        <p role="status" className="notice notice-success">
          {sent}
        </p>
      )}
      <button type="submit" className="primary">
        Send signal
      </button>
    </form>
  );
}

function QueryForm({ executionId, queries }: { executionId: string; queries: QueryDeclaration[] }) {
  const [name, setName] = useState(queries[0]?.name ?? "");
  const [answer, setAnswer] = useState<{ name: string; result: unknown } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const body = await api<{ query: string; result: unknown }>(
        `/executions/${executionId}/queries/${encodeURIComponent(name)}`,
      );
      setAnswer({ name: body.query, result: body.result });
    } catch (reason) {
      setAnswer(null);
      setError(reason);
    }
  };
  return (
    <form className="form run-operation" onSubmit={submit} noValidate aria-labelledby="query-title">
      <h3 id="query-title">Ask a query</h3>
      <div className="field">
        <label htmlFor="query-name">Query</label>
        <select id="query-name" value={name} onChange={(event) => setName(event.target.value)}>
          {queries.map((q) => (
            <option key={q.name} value={q.name}>
              {q.name}
            </option>
          ))}
        </select>
      </div>
      <ProblemAlert error={error} />
      {answer && (
        <div role="status" aria-label="Query answer">
          <p className="small muted">
            <code>{answer.name}</code> answered:
          </p>
          <pre className="json">{JSON.stringify(answer.result, null, 2)}</pre>
        </div>
      )}
      <button type="submit">Ask</button>
    </form>
  );
}

function WorkItemForm({
  executionId,
  queues,
  onDone,
}: {
  executionId: string;
  queues: WorkQueueDeclaration[];
  onDone: () => void;
}) {
  const [name, setName] = useState(queues[0]?.name ?? "");
  const [item, setItem] = useState<unknown>({});
  const [parseError, setParseError] = useState<string | null>(null);
  const [priority, setPriority] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<string | null>(null);
  const queue = queues.find((q) => q.name === name);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setResult(null);
    if (parseError) return setError(new Error(parseError));
    try {
      const added = await api<{ accepted: boolean; deduplicated: boolean; size: number }>(
        `/executions/${executionId}/work-queues/${encodeURIComponent(name)}/items`,
        { method: "POST", body: { item, priority } },
      );
      setResult(
        added.deduplicated
          ? `An equal item is already queued; ${added.size} waiting.`
          : `Item added; ${added.size} waiting in ${name}.`,
      );
      onDone();
    } catch (reason) {
      setError(reason);
    }
  };
  return (
    <form className="form run-operation" onSubmit={submit} noValidate aria-labelledby="work-item-title">
      <h3 id="work-item-title">Add a work-queue item</h3>
      <div className="field">
        <label htmlFor="work-queue-name">Work queue</label>
        <select id="work-queue-name" value={name} onChange={(event) => setName(event.target.value)}>
          {queues.map((q) => (
            <option key={q.name} value={q.name}>
              {q.name}
            </option>
          ))}
        </select>
      </div>
      <PayloadField
        key={name}
        schema={queue?.work_item_schema}
        label="Item"
        value={item}
        onChange={(value, problem) => {
          setItem(value);
          setParseError(problem);
        }}
      />
      {queue?.priority === "priority" && (
        <div className="field">
          <label htmlFor="work-item-priority">Priority (higher first)</label>
          <input
            id="work-item-priority"
            type="number"
            value={priority}
            onChange={(event) => setPriority(Number(event.target.value) || 0)}
          />
        </div>
      )}
      <ProblemAlert error={error} />
      {result && (
        <p role="status" className="notice notice-success">
          {result}
        </p>
      )}
      <button type="submit">Add item</button>
    </form>
  );
}

export function RunOperations({
  executionId,
  declared,
  live,
  onDone,
}: {
  executionId: string;
  declared: Declared;
  live: boolean;
  onDone: () => void;
}) {
  const { signals, queries, workQueues } = declared;
  if (!signals.length && !queries.length && !workQueues.length) {
    return <p className="muted small">This workflow declares no signals, queries or work queues.</p>;
  }
  return (
    <div className="run-operations">
      {!live && <p className="muted small">This run has finished: it takes no more signals or items.</p>}
      {signals.length > 0 && <SignalForm executionId={executionId} signals={signals} onDone={onDone} />}
      {queries.length > 0 && <QueryForm executionId={executionId} queries={queries} />}
      {workQueues.length > 0 && <WorkItemForm executionId={executionId} queues={workQueues} onDone={onDone} />}
    </div>
  );
}
