// Where the gateway is: the origin that served this page, unless `?api=<url>` names another
// (the cross-origin check uses that). Credentials the user typed live in sessionStorage only.

export function apiBase(search: string = window.location.search): string {
  const named = new URLSearchParams(search).get('api');
  if (named) {
    try {
      return new URL(named).origin;
    } catch {
      // not a URL: fall back to this page's own gateway
    }
  }
  return window.location.origin;
}

export const API_BASE = apiBase();

const TOKEN_KEY = 'streamproc.token';

export function loadToken(): string {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(token: string): void {
  try {
    if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives for this page only
  }
}

/** GET /api/dev/config: null when the development endpoints are off (404) or unreachable. */
export type DevConfig = { devToken: boolean; apiKey?: string };

export async function fetchDevConfig(base: string = API_BASE): Promise<DevConfig | null> {
  try {
    const response = await fetch(`${base}/api/dev/config`);
    if (!response.ok) return null;
    const body = (await response.json()) as { data?: DevConfig };
    return body.data ?? null;
  } catch {
    return null;
  }
}

export async function fetchDevToken(userId: string, base: string = API_BASE): Promise<string> {
  const response = await fetch(`${base}/api/dev/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const body = (await response.json()) as { data?: { token?: string }; errors?: string[]; code?: string };
  if (!response.ok || !body.data?.token) {
    throw new Error(`${body.code ?? response.status}: ${(body.errors ?? []).join('; ') || 'no token'}`);
  }
  return body.data.token;
}
