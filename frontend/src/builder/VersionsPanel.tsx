/** The compiled versions of a workflow: which one runs, how many runs each had, the
 * difference between two, and a rollback to an older one. */
import { useEffect, useState } from "react";
import { errorMessage } from "../api/client";
import { activateVersion, listVersions, readVersion, type Version } from "../api/deployments";
import { Dialog } from "../ui/Dialog";
import { formatDate } from "../ui/format";
import { lineDiff, nodeChanges, type DiffLine, type NodeChanges } from "./versionDiff";

interface Comparison {
  from: Version;
  to: Version;
  nodes: NodeChanges;
  lines: DiffLine[];
}

function shortHash(hash: string | null): string {
  return hash ? hash.slice(0, 8) : "—";
}

export function VersionsPanel({
  open,
  workflowId,
  onClose,
  onActivated,
}: {
  open: boolean;
  workflowId: string;
  onClose: () => void;
  onActivated: () => void;
}) {
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () =>
    listVersions(workflowId)
      .then((list) => {
        setVersions(list);
        setError(null);
      })
      .catch((reason: unknown) => setError(errorMessage(reason)));

  useEffect(() => {
    if (!open) return;
    setVersions(null);
    setPicked([]);
    setComparison(null);
    void load();
    // load reads only workflowId.
  }, [open, workflowId]);

  const toggle = (id: string) =>
    setPicked((current) => (current.includes(id) ? current.filter((p) => p !== id) : [...current, id].slice(-2)));

  const compare = async () => {
    if (!versions || picked.length !== 2) return;
    // Older first, so additions are what the newer version brought.
    const [from, to] = versions.filter((v) => picked.includes(v.id)).reverse();
    setBusy(true);
    try {
      const [a, b] = await Promise.all([readVersion(workflowId, from.id), readVersion(workflowId, to.id)]);
      setComparison({
        from,
        to,
        nodes: nodeChanges(a.plan.nodes ?? [], b.plan.nodes ?? []),
        lines: lineDiff(JSON.stringify(a.plan, null, 2), JSON.stringify(b.plan, null, 2)),
      });
    } catch (reason) {
      setError(errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  const rollBack = async (version: Version) => {
    setBusy(true);
    try {
      await activateVersion(workflowId, version.id);
      await load();
      onActivated();
    } catch (reason) {
      setError(errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} title="Versions" onClose={onClose}>
      <div className="dialog-scroll versions-panel">
        <p className="hint">
          Every deploy compiles the draft into an immutable version. New runs use the deployed one; runs in flight keep
          the version they started with.
        </p>
        {error && (
          <p role="alert" className="form-error">
            {error}
          </p>
        )}
        {!versions && !error && (
          <p className="muted" role="status">
            Loading versions…
          </p>
        )}
        {versions && versions.length === 0 && <p className="muted">Nothing deployed yet.</p>}
        {versions && versions.length > 0 && (
          <table className="table" aria-label="Compiled versions">
            <thead>
              <tr>
                <th scope="col">Compare</th>
                <th scope="col">Compiled</th>
                <th scope="col">Hash</th>
                <th scope="col">Runs</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {versions.map((version, index) => (
                <tr key={version.id} data-version-id={version.id} data-testid="version-row">
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Compare version ${versions.length - index}`}
                      checked={picked.includes(version.id)}
                      onChange={() => toggle(version.id)}
                    />
                  </td>
                  <td>
                    #{versions.length - index} · {formatDate(version.compiled_at)}
                  </td>
                  <td>
                    <code>{shortHash(version.content_hash)}</code>
                  </td>
                  <td data-testid="version-runs">{version.execution_count}</td>
                  <td>
                    {version.is_active ? (
                      <span className="chip chip-success">deployed</span>
                    ) : (
                      <button type="button" disabled={busy} onClick={() => void rollBack(version)}>
                        {index === 0 ? "Deploy this version" : "Roll back to this"}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {versions && versions.length > 1 && (
          <div className="dialog-actions">
            <button type="button" disabled={picked.length !== 2 || busy} onClick={() => void compare()}>
              Compare the two selected
            </button>
          </div>
        )}
        {comparison && (
          <section aria-label="Difference" className="version-diff">
            <h3>
              #{versions!.length - versions!.indexOf(comparison.from)} → #
              {versions!.length - versions!.indexOf(comparison.to)}
            </h3>
            <p data-testid="diff-summary">
              {comparison.nodes.added.length + comparison.nodes.removed.length + comparison.nodes.changed.length === 0
                ? "No node changed."
                : [
                    comparison.nodes.added.length ? `Added: ${comparison.nodes.added.join(", ")}` : "",
                    comparison.nodes.removed.length ? `Removed: ${comparison.nodes.removed.join(", ")}` : "",
                    comparison.nodes.changed.length ? `Changed: ${comparison.nodes.changed.join(", ")}` : "",
                  ]
                    .filter(Boolean)
                    .join(" · ")}
            </p>
            <pre className="diff">
              {comparison.lines.map((line, i) => (
                <div key={i} className={`diff-${line.kind}`}>
                  {line.kind === "added" ? "+ " : line.kind === "removed" ? "- " : "  "}
                  {line.text}
                </div>
              ))}
            </pre>
          </section>
        )}
      </div>
    </Dialog>
  );
}
