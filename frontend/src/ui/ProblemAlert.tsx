/** An API failure as the user reads it: the problem's detail, then each field error with where. */
import { ApiError, errorMessage } from "../api/client";

export function ProblemAlert({ error, testId }: { error: unknown; testId?: string }) {
  if (error === null || error === undefined) return null;
  const fields = error instanceof ApiError ? (error.problem.errors ?? []) : [];
  return (
    <div role="alert" className="form-error" data-testid={testId}>
      <p>{errorMessage(error)}</p>
      {fields.length > 0 && (
        <ul>
          {fields.map((field, index) => (
            <li key={index}>
              <code>{field.pointer || field.loc.join(".")}</code>: {field.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
