// Unit (no server): each of the seeds' three client snippets lives in src/seeds/ as the seed wrote
// it. The code is extracted from the seed markdown, exactly the allowed replacements are applied
// (the URL and API key, for RTK the ./baseApi import path), and the file must equal the result,
// so nobody "fixes" a snippet quietly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { SRC_SEEDS, comparable, snippets } from './seedSnippets.js';

describe('seed snippets', () => {
  for (const snippet of snippets()) {
    it(`src/seeds/${snippet.file} is the seed's code with only the allowed replacements`, () => {
      const file = readFileSync(join(SRC_SEEDS, snippet.file), 'utf8');
      expect(comparable(file, snippet.indentation)).toBe(comparable(snippet.expected, snippet.indentation));
    });
  }

  it('the extracted snippets are the seed code (not an empty or truncated block)', () => {
    const [browser, hook, rtk] = snippets();
    expect(browser.seed).toMatch(/^import \{ io \} from 'socket.io-client';\n/);
    expect(browser.seed).toContain("socket.on('job:error', (data) => {");
    expect(browser.seed.trimEnd().endsWith('});')).toBe(true);
    expect(hook.seed).toContain('export function useJobProgress(jobId: string | null) {');
    expect(hook.seed).toContain('return { progress, data, error };');
    expect(rtk.seed).toMatch(/^import \{ baseApi \} from '\.\/baseApi';\n/);
    expect(rtk.seed).toContain("url: '/v1/live-stream/my-watched-streams',");
    expect(rtk.seed.trimEnd().endsWith('} = liveStreamHistoryApi;')).toBe(true);
  });
});
