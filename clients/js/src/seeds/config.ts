// Where the seeds' snippets (browserExample.ts, useJobProgress.ts) connect and which API key the
// example sends: the only thing those copies change from the seeds. In Node the GATEWAY_URL and
// API_KEY environment variables set them; anywhere, configureSeeds() does (ES module exports
// are live bindings, so the snippets read the new value). Defaults: the seeds' own values.
type Env = Record<string, string | undefined>;
const env: Env = (globalThis as { process?: { env?: Env } }).process?.env ?? {};

export let GATEWAY_URL: string = env.GATEWAY_URL ?? 'http://localhost:3000';
export let API_KEY: string = env.API_KEY ?? 'your-api-key';

export function configureSeeds(options: { gatewayUrl?: string; apiKey?: string }): void {
  if (options.gatewayUrl !== undefined) GATEWAY_URL = options.gatewayUrl.replace(/\/+$/, '');
  if (options.apiKey !== undefined) API_KEY = options.apiKey;
}
