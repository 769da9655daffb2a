/** "Run this node": call one activity or agent node of the saved draft with sample data, see
 * the inputs its mapping gave and what it returned, and pin data so the next try (and every
 * node after it) starts from there. Nothing is deployed and no run is recorded. */
import { useId, useState } from "react";
import { api, errorMessage } from "../api/client";
import { ProblemAlert } from "../ui/ProblemAlert";

export type PinnedData = Record<string, unknown>;

interface TrialResult {
  node_id: string;
  inputs: unknown;
  ok: boolean;
  output?: unknown;
  error?: { type: string; message: string } | null;
  duration_ms: number;
}

interface Sample {
  input: unknown;
  nodes: Record<string, unknown>;
}

/** The sample a try starts from: the trigger's pinned data as the run input, the other pinned
 * outputs as the earlier nodes'. */
function sampleFrom(pinned: PinnedData, triggerId: string | undefined, nodeId: string): Sample {
  const nodes: Record<string, unknown> = {};
  for (const [id, value] of Object.entries(pinned)) if (id !== triggerId && id !== nodeId) nodes[id] = value;
  return { input: (triggerId && pinned[triggerId]) ?? {}, nodes };
}

function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" aria-label={label}>
      {JSON.stringify(value ?? null, null, 2)}
    </pre>
  );
}

export function NodeTrialPanel({
  workflowId,
  nodeId,
  triggerId,
  pinned,
  saveFirst,
  onPin,
}: {
  workflowId: string;
  nodeId: string;
  triggerId: string | undefined;
  pinned: PinnedData;
  /** Save what is on the canvas; false when it could not be saved. */
  saveFirst: () => Promise<boolean>;
  onPin: (next: PinnedData) => void;
}) {
  const id = useId();
  const [text, setText] = useState(() => JSON.stringify(sampleFrom(pinned, triggerId, nodeId), null, 2));
  const [textError, setTextError] = useState<string | null>(null);
  const [result, setResult] = useState<TrialResult | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const parsed = (): Sample | null => {
    try {
      const value = JSON.parse(text || "{}") as Partial<Sample>;
      if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("expected a JSON object");
      setTextError(null);
      return { input: value.input ?? {}, nodes: (value.nodes as Record<string, unknown>) ?? {} };
    } catch (reason) {
      setTextError(`Not valid sample data: ${errorMessage(reason)}`);
      return null;
    }
  };

  const run = async () => {
    const sample = parsed();
    if (!sample) return;
    setBusy(true);
    setFailure(null);
    setResult(null);
    try {
      if (!(await saveFirst())) {
        setFailure(new Error("Save the workflow first."));
        return;
      }
      setResult(
        await api<TrialResult>(`/workflows/${workflowId}/nodes/${encodeURIComponent(nodeId)}/try`, {
          method: "POST",
          body: sample,
        }),
      );
    } catch (reason) {
      setFailure(reason);
    } finally {
      setBusy(false);
    }
  };

  const pinSample = () => {
    const sample = parsed();
    if (!sample) return;
    const next: PinnedData = { ...pinned, ...sample.nodes };
    if (triggerId) next[triggerId] = sample.input;
    onPin(next);
  };

  const isPinned = Object.prototype.hasOwnProperty.call(pinned, nodeId);
  return (
    <section className="inspector-section node-trial" aria-label={`Try ${nodeId}`}>
      <h3>Try this node</h3>
      <p className="hint">
        Runs this node alone on the saved draft, with the sample data below: the run input as <code>input</code> and
        earlier nodes' outputs under <code>nodes</code>. Nothing is deployed or recorded.
      </p>
      <div className="field">
        <label htmlFor={id}>Sample data (JSON)</label>
        <textarea
          id={id}
          rows={6}
          spellCheck={false}
          className="code"
          value={text}
          onChange={(event) => setText(event.target.value)}
          aria-invalid={textError ? true : undefined}
        />
        <p className="field-error">{textError}</p>
      </div>
      <div className="actions-row">
        <button type="button" className="primary" disabled={busy} onClick={() => void run()}>
          {busy ? "Running…" : "Run this node"}
        </button>
        <button type="button" onClick={pinSample} title="Save this sample data with the workflow">
          Pin sample data
        </button>
      </div>
      <ProblemAlert error={failure} />
      {result && (
        <div className="trial-result" role="status" data-testid="trial-result" data-ok={result.ok}>
          <p>
            {result.ok ? <strong className="ok">✓ Succeeded</strong> : <strong className="failed">✕ Failed</strong>} in{" "}
            {result.duration_ms} ms
          </p>
          {result.error && <p className="field-error multiline">{result.error.message}</p>}
          <h4>Inputs</h4>
          <Json value={result.inputs} label="Inputs of the try" />
          {result.ok && (
            <>
              <h4>Output</h4>
              <Json value={result.output} label="Output of the try" />
              <button type="button" onClick={() => onPin({ ...pinned, [nodeId]: result.output })}>
                Pin this output
              </button>
            </>
          )}
        </div>
      )}
      {isPinned && (
        <p className="hint" data-testid="pinned-note">
          This node's output is pinned: tries of later nodes use it.{" "}
          <button
            type="button"
            className="link-button"
            onClick={() => {
              const { [nodeId]: _dropped, ...rest } = pinned;
              onPin(rest);
            }}
          >
            Unpin
          </button>
        </p>
      )}
    </section>
  );
}
