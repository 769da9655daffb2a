/** A readable difference between two compiled plans: which nodes were added, removed or
 * changed, and a line diff of the plans' JSON. */

export interface NodeChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

type PlanNode = { id: string; [key: string]: unknown };

export function nodeChanges(before: PlanNode[], after: PlanNode[]): NodeChanges {
  const old = new Map(before.map((n) => [n.id, JSON.stringify(n)]));
  const now = new Map(after.map((n) => [n.id, JSON.stringify(n)]));
  return {
    added: [...now.keys()].filter((id) => !old.has(id)),
    removed: [...old.keys()].filter((id) => !now.has(id)),
    changed: [...now.keys()].filter((id) => old.has(id) && old.get(id) !== now.get(id)),
  };
}

export interface DiffLine {
  kind: "same" | "added" | "removed" | "gap";
  text: string;
}

/** The lines of `after` against `before` (longest common subsequence), unchanged stretches
 * folded to `context` lines around each change. */
export function lineDiff(before: string, after: string, context = 2): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const rows = a.length + 1;
  const cols = b.length + 1;
  const lcs = new Uint32Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i * cols + j] =
        a[i] === b[j] ? lcs[(i + 1) * cols + j + 1] + 1 : Math.max(lcs[(i + 1) * cols + j], lcs[i * cols + j + 1]);
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ kind: "same", text: a[i] });
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || lcs[i * cols + j + 1] >= lcs[(i + 1) * cols + j])) {
      lines.push({ kind: "added", text: b[j] });
      j++;
    } else {
      lines.push({ kind: "removed", text: a[i] });
      i++;
    }
  }
  const near = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.kind === "same") return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k++) near[k] = true;
  });
  const folded: DiffLine[] = [];
  lines.forEach((line, index) => {
    if (near[index]) folded.push(line);
    else if (folded.length === 0 || folded[folded.length - 1].kind !== "gap") folded.push({ kind: "gap", text: "…" });
  });
  return folded;
}
