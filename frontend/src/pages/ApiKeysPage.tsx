/** API keys: create (the secret is shown once), list, revoke. */
import { useState, type FormEvent } from "react";
import { api, errorMessage, type Page } from "../api/client";
import type { ApiKey, ApiKeyCreated } from "../api/types";
import { useAsync } from "../app/useAsync";
import { ConfirmDialog } from "../ui/Dialog";
import { formatDate } from "../ui/format";
import { LoadingRow } from "../ui/LoadingRow";

export function ApiKeysPage() {
  const keys = useAsync(() => api<Page<ApiKey>>("/api-keys", { query: { limit: 200, sort: "-created_at" } }), "keys");
  const [name, setName] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      setCreated(await api<ApiKeyCreated>("/api-keys", { method: "POST", body: { name: name.trim() } }));
      setCopied(false);
      setName("");
      keys.reload();
    } catch (reason) {
      setError(errorMessage(reason));
    }
  };

  const revoke = async (key: ApiKey) => {
    setRevoking(null);
    try {
      await api(`/api-keys/${key.id}`, { method: "DELETE" });
      if (created?.id === key.id) setCreated(null);
      keys.reload();
    } catch (reason) {
      setError(errorMessage(reason));
    }
  };

  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };

  return (
    <section aria-labelledby="api-keys-title">
      <div className="page-header">
        <h1 id="api-keys-title">API keys</h1>
      </div>
      <p className="lead">
        Scripts authenticate with an API key as <code>X-API-Key</code> or a bearer token.
      </p>
      <form className="inline-form" onSubmit={create}>
        <label htmlFor="api-key-name">Key name</label>
        <input
          id="api-key-name"
          value={name}
          maxLength={100}
          placeholder="e.g. ci-deploy"
          onChange={(event) => setName(event.target.value)}
        />
        <button type="submit" className="primary" disabled={!name.trim()}>
          Create key
        </button>
      </form>
      {error && (
        <p role="alert" className="form-error">
          {error}
        </p>
      )}
      {created && (
        <div className="notice notice-success" role="status" data-testid="new-api-key">
          <p>
            <strong>Copy the key "{created.name}" now.</strong> It is shown this once and cannot be retrieved later.
          </p>
          <div className="secret">
            <code data-testid="api-key-secret">{created.key}</code>
            <button type="button" onClick={() => void copy()}>
              {copied ? "Copied" : "Copy"}
            </button>
            <button type="button" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      {keys.error && (
        <p role="alert" className="form-error">
          {keys.error}
        </p>
      )}
      <table className="table">
        <caption className="visually-hidden">Your API keys</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.data?.items.map((key) => (
            <tr key={key.id}>
              <td>{key.name}</td>
              <td>
                <code>{key.prefix}…</code>
              </td>
              <td>{formatDate(key.created_at)}</td>
              <td>{key.last_used_at ? formatDate(key.last_used_at) : "Never"}</td>
              <td>{key.expires_at ? formatDate(key.expires_at) : "Never"}</td>
              <td className="actions">
                <button
                  type="button"
                  className="danger"
                  onClick={() => setRevoking(key)}
                  aria-label={`Revoke ${key.name}`}
                >
                  Revoke
                </button>
              </td>
            </tr>
          ))}
          {keys.loading && !keys.data && <LoadingRow colSpan={6} what="API keys" />}
          {keys.data && keys.data.items.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                No API keys yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke API key"
        message={`Revoke "${revoking?.name}"? Scripts using it stop working at once.`}
        confirmLabel="Revoke"
        onConfirm={() => revoking && void revoke(revoking)}
        onCancel={() => setRevoking(null)}
      />
    </section>
  );
}
