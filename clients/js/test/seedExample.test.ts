// The seed's browser JavaScript example, run as written (top-level await and all) by node from
// the built package (dist/seeds/browserExample.js; `npm test` builds first), against the real
// gateway. Its title URL is the seed's own (fixture tr/81616256 of the fake Netflix).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { apiKey, eventually, gatewayUrl } from './support.js';

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'seeds', 'browserExample.js');

describe("the seed's JavaScript example", () => {
  it('connects, creates the job, and logs every step and the result', async () => {
    const child = spawn(process.execPath, [EXAMPLE], {
      env: { ...process.env, GATEWAY_URL: gatewayUrl(), API_KEY: apiKey() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exit: number | null = null;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => (exit = code ?? -1));
    try {
      // the example never exits (its socket stays open): wait for its last line
      await eventually(() => {
        if (exit !== null) throw new Error(`the example exited (${exit}): ${stdout}${stderr}`);
        return stdout.includes('Completed:');
      }, 'the example to log Completed', 60_000);
    } finally {
      child.kill();
    }
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^Connected: \S+$/);
    const progress = lines.filter((l) => l.startsWith('Progress: '));
    expect(progress).toEqual([
      'Progress: 0% - Job created',
      'Progress: 10% - Checking cache',
      'Progress: 30% - Checking database',
      'Progress: 50% - Scraping Netflix',
      'Progress: 80% - Saving to database',
      'Progress: 100% - Completed',
    ]);
    const completed = stdout.slice(stdout.indexOf('Completed:'));
    expect(completed).toContain("title: 'Hayata Röveşata Çeken Adam'");
    expect(completed).toContain('year: 2022');
    expect(stderr).not.toContain('Error:');
  });
});
