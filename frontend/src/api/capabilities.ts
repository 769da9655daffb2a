/** Which routes the server offers, read once from /openapi.json, so the app only calls
 * endpoints that exist and shows "coming soon" for the rest. */

let paths: Promise<Set<string>> | null = null;

export function serverPaths(): Promise<Set<string>> {
  paths ??= fetch("/openapi.json")
    .then((response) => (response.ok ? response.json() : { paths: {} }))
    .then((doc: { paths?: Record<string, unknown> }) => new Set(Object.keys(doc.paths ?? {})))
    .catch(() => new Set<string>());
  return paths;
}

const PARAMETER = /\{[^}]*\}/g;

/** Whether the server has `path`, e.g. "/api/v1/workflows/{id}/validate" (parameter names
 * do not matter). */
export async function hasRoute(path: string): Promise<boolean> {
  const wanted = path.replace(PARAMETER, "{}");
  for (const known of await serverPaths()) if (known.replace(PARAMETER, "{}") === wanted) return true;
  return false;
}
