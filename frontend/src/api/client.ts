/** The one way the app talks to /api/v1: bearer tokens, refresh on 401, problem details. */

export interface FieldError {
  loc: (string | number)[];
  pointer?: string;
  message: string;
}

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: FieldError[];
  /** The budget a template rendering went over (output, value, loop, calls, time). */
  limit?: string;
}

/** A failed request, carrying the server's RFC 9457 problem document when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: ProblemBody;

  constructor(status: number, problem: ProblemBody) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.status = status;
    this.problem = problem;
  }

  /** The message of the field error at `pointer` (e.g. "/kebab_name"), if any. */
  fieldMessage(pointer: string): string | undefined {
    return this.problem.errors?.find((e) => e.pointer === pointer)?.message;
  }
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

const TOKENS_KEY = "wfb.tokens";
const API = "/api/v1";

type TokensListener = (tokens: Tokens | null) => void;
const listeners = new Set<TokensListener>();
let refreshing: Promise<boolean> | null = null;

export function loadTokens(): Tokens | null {
  try {
    const raw = localStorage.getItem(TOKENS_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

export function storeTokens(tokens: Tokens | null): void {
  if (tokens) localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  else localStorage.removeItem(TOKENS_KEY);
  listeners.forEach((listener) => listener(tokens));
}

/** Be told when the tokens change (sign-in, refresh, sign-out, expiry). */
export function onTokensChange(listener: TokensListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Exchange the refresh token for new tokens, once at a time across tabs: refresh tokens are
 * single-use, so a second tab refreshing with the same one would end the session. */
async function refreshTokens(rejectedAccessToken: string): Promise<boolean> {
  const run = async (): Promise<boolean> => {
    const tokens = loadTokens();
    if (!tokens) return false;
    // Another tab refreshed while this one waited: its tokens are ours too.
    if (tokens.access_token !== rejectedAccessToken) return true;
    const response = await fetch(`${API}/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    if (!response.ok) {
      storeTokens(null);
      return false;
    }
    storeTokens((await response.json()) as Tokens);
    return true;
  };
  return navigator.locks ? navigator.locks.request("wfb.refresh-tokens", run) : run();
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Send no credentials (sign-in, sign-up). */
  anonymous?: boolean;
}

export interface ApiResponse<T> {
  data: T;
  headers: Headers;
}

function url(path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return `${API}${path}${search ? `?${search}` : ""}`;
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const tokens = options.anonymous ? null : loadTokens();
  if (tokens && !headers.Authorization) headers.Authorization = `Bearer ${tokens.access_token}`;
  return fetch(url(path, options.query), {
    method: options.method ?? "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

/** Call the API; on 401 refresh the tokens once and retry. Throws ApiError on failure. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const usedAccessToken = options.anonymous ? null : (loadTokens()?.access_token ?? null);
  let response = await send(path, options);
  if (response.status === 401 && usedAccessToken) {
    refreshing ??= refreshTokens(usedAccessToken).finally(() => {
      refreshing = null;
    });
    if (await refreshing) response = await send(path, options);
  }
  if (!response.ok) {
    let problem: ProblemBody = { status: response.status };
    try {
      problem = (await response.json()) as ProblemBody;
    } catch {
      // A body that is not JSON: keep the status alone.
    }
    throw new ApiError(response.status, problem);
  }
  const data = response.status === 204 ? undefined : await response.json();
  return { data: data as T, headers: response.headers };
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await request<T>(path, options)).data;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** A readable message for any thrown value. */
export function errorMessage(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return String(reason);
}
