/** Sign in and sign up. */
import { useState, type FormEvent } from "react";
import { ApiError, errorMessage } from "../api/client";
import { useAuth } from "../app/auth";
import { Link } from "../app/router";

export function AuthPage({ mode }: { mode: "signin" | "signup" }) {
  const { signIn, signUp } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const signingUp = mode === "signup";

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      if (signingUp) await signUp(email, password, displayName);
      else await signIn(email, password);
    } catch (reason) {
      if (reason instanceof ApiError && reason.status === 422 && reason.problem.errors) {
        const byField: Record<string, string> = {};
        for (const item of reason.problem.errors) byField[String(item.loc.at(-1))] = item.message;
        setFieldErrors(byField);
      } else if (reason instanceof ApiError && reason.status === 401) {
        setError("Wrong email or password.");
      } else {
        setError(errorMessage(reason));
      }
    } finally {
      setBusy(false);
    }
  };

  const field = (id: string, label: string, input: React.ReactNode) => (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {input}
      {fieldErrors[id] && (
        <p className="field-error" id={`${id}-error`}>
          {fieldErrors[id]}
        </p>
      )}
    </div>
  );

  return (
    <main className="auth-page" id="main">
      <div className="auth-card">
        <h1>Workflow Builder</h1>
        <h2>{signingUp ? "Create your account" : "Sign in"}</h2>
        <form onSubmit={submit} className="form" noValidate>
          {signingUp &&
            field(
              "display_name",
              "Name",
              <input
                id="display_name"
                value={displayName}
                autoComplete="name"
                onChange={(e) => setDisplayName(e.target.value)}
              />,
            )}
          {field(
            "email",
            "Email",
            <input
              id="email"
              type="email"
              required
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              aria-invalid={fieldErrors.email ? true : undefined}
              aria-describedby={fieldErrors.email ? "email-error" : undefined}
            />,
          )}
          {field(
            "password",
            "Password",
            <input
              id="password"
              type="password"
              required
              minLength={signingUp ? 8 : undefined}
              autoComplete={signingUp ? "new-password" : "current-password"}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={fieldErrors.password ? true : undefined}
              aria-describedby={fieldErrors.password ? "password-error" : "password-hint"}
            />,
          )}
          {signingUp && (
            <p className="hint" id="password-hint">
              At least 8 characters, and not a common or easily guessed password.
            </p>
          )}
          {error && (
            <p role="alert" className="form-error">
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {signingUp ? "Sign up" : "Sign in"}
          </button>
        </form>
        <p className="auth-switch">
          {signingUp ? (
            <>
              Already have an account? <Link to="/signin">Sign in</Link>
            </>
          ) : (
            <>
              New here? <Link to="/signup">Create an account</Link>
            </>
          )}
        </p>
      </div>
    </main>
  );
}
