/** The signed-in user's settings: profile (display name, email) and password. */
import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import type { Me } from "../api/types";
import { useAuth } from "../app/auth";
import { ProblemAlert } from "../ui/ProblemAlert";

export function SettingsPage() {
  const { me, replaceMe } = useAuth();
  const [displayName, setDisplayName] = useState(me?.display_name ?? "");
  const [email, setEmail] = useState(me?.email ?? "");
  const [profileError, setProfileError] = useState<unknown>(null);
  const [profileSaved, setProfileSaved] = useState(false);
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [passwordError, setPasswordError] = useState<unknown>(null);
  const [passwordSaved, setPasswordSaved] = useState(false);

  const saveProfile = async (event: FormEvent) => {
    event.preventDefault();
    setProfileError(null);
    setProfileSaved(false);
    try {
      replaceMe(
        await api<Me>("/me", {
          method: "PATCH",
          body: { display_name: displayName.trim() || null, email: email.trim() },
        }),
      );
      setProfileSaved(true);
    } catch (reason) {
      setProfileError(reason);
    }
  };

  const savePassword = async (event: FormEvent) => {
    event.preventDefault();
    setPasswordError(null);
    setPasswordSaved(false);
    if (password !== repeat) {
      setPasswordError(new Error("The two new passwords differ."));
      return;
    }
    try {
      await api<Me>("/me", { method: "PATCH", body: { password, current_password: current } });
      setPasswordSaved(true);
      setCurrent("");
      setPassword("");
      setRepeat("");
    } catch (reason) {
      setPasswordError(reason);
    }
  };

  return (
    <section aria-labelledby="settings-title" className="settings-page">
      <div className="page-header">
        <h1 id="settings-title">Settings</h1>
      </div>
      <form className="form card-section" onSubmit={saveProfile} aria-labelledby="profile-title">
        <h2 id="profile-title">Profile</h2>
        <div className="field">
          <label htmlFor="settings-name">Display name</label>
          <input
            id="settings-name"
            value={displayName}
            maxLength={255}
            onChange={(event) => setDisplayName(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="settings-email">Email</label>
          <input
            id="settings-email"
            type="email"
            value={email}
            autoComplete="email"
            onChange={(event) => setEmail(event.target.value)}
          />
        </div>
        <button type="submit" className="primary" disabled={!email.trim()}>
          Save profile
        </button>
        {profileSaved && <p role="status">Profile saved.</p>}
        <ProblemAlert error={profileError} />
      </form>
      <form className="form card-section" onSubmit={savePassword} aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <div className="field">
          <label htmlFor="settings-current">Current password</label>
          <input
            id="settings-current"
            type="password"
            autoComplete="current-password"
            value={current}
            onChange={(event) => setCurrent(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="settings-new">New password</label>
          <input
            id="settings-new"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="settings-repeat">New password again</label>
          <input
            id="settings-repeat"
            type="password"
            autoComplete="new-password"
            value={repeat}
            onChange={(event) => setRepeat(event.target.value)}
          />
        </div>
        <button type="submit" className="primary" disabled={!current || !password}>
          Change password
        </button>
        {passwordSaved && <p role="status">Password changed. Other sessions were signed out.</p>}
        <ProblemAlert error={passwordError} />
      </form>
    </section>
  );
}
