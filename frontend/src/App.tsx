import { useEffect, useState } from "react";

interface Health {
  status: string;
  version: string;
  database: { ok: boolean; schema_version?: string };
}

export function App() {
  const [health, setHealth] = useState<Health | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    fetch("/health")
      .then((response) => response.json())
      .then(setHealth)
      .catch((reason: unknown) => setError(String(reason)));
  }, []);

  return (
    <main style={{ fontFamily: "system-ui, sans-serif", padding: "2rem" }}>
      <h1>Workflow Builder</h1>
      {error && <p role="alert">Cannot reach the server: {error}</p>}
      {health && (
        <p data-testid="health">
          Server {health.version}: {health.status}, schema {health.database.schema_version}
        </p>
      )}
    </main>
  );
}
