/** Who is signed in: tokens in local storage, the user from /me. */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, loadTokens, onTokensChange, storeTokens, type Tokens } from "../api/client";
import type { Me } from "../api/types";

interface AuthState {
  me: Me | null;
  loading: boolean;
  signIn: (email: string, password: string) => Promise<void>;
  signUp: (email: string, password: string, displayName: string) => Promise<void>;
  signOut: () => Promise<void>;
  /** The user as the server answered a change to the profile. */
  replaceMe: (me: Me) => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(() => loadTokens() !== null);

  const loadMe = useCallback(async () => {
    try {
      setMe(await api<Me>("/me"));
    } catch {
      setMe(null);
      storeTokens(null);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    if (loadTokens()) void loadMe();
    return onTokensChange((tokens) => {
      if (!tokens) setMe(null);
    });
  }, [loadMe]);

  const signIn = useCallback(
    async (email: string, password: string) => {
      const tokens = await api<Tokens>("/auth/signin", {
        method: "POST",
        body: { email, password },
        anonymous: true,
      });
      storeTokens(tokens);
      await loadMe();
    },
    [loadMe],
  );

  const signUp = useCallback(async (email: string, password: string, displayName: string) => {
    const result = await api<{ user: Me; tokens: Tokens }>("/auth/signup", {
      method: "POST",
      body: { email, password, display_name: displayName || null },
      anonymous: true,
    });
    storeTokens(result.tokens);
    setMe(result.user);
  }, []);

  const signOut = useCallback(async () => {
    const tokens = loadTokens();
    // Forget the tokens first, so nothing on the page keeps using a session being ended.
    storeTokens(null);
    setMe(null);
    if (!tokens) return;
    try {
      await api("/auth/signout", {
        method: "POST",
        body: { refresh_token: tokens.refresh_token },
        headers: { Authorization: `Bearer ${tokens.access_token}` },
        anonymous: true,
      });
    } catch {
      // The session may already have ended; signing out here is what matters.
    }
  }, []);

  return (
    <AuthContext.Provider value={{ me, loading, signIn, signUp, signOut, replaceMe: setMe }}>
      {children}
    </AuthContext.Provider>
  );
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}
