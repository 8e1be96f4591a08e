// The seeds' three client snippets, read from the seed markdown (copies of the seeds, verbatim,
// in test/seeds/), and the only changes our copies in src/seeds/ may make to them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SEEDS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'seeds');
export const SRC_SEEDS = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'seeds');

/** The netflix seed as stored is a capture of a rendered page: a size header, then every line
 * followed by a `|` line and a `||` line (an empty line is just the separator). Undo that. */
export function netflixSeedText(raw: string): string {
  const lines = raw.split('\n');
  const start = lines.findIndex((l) => l.startsWith('# '));
  const out: string[] = [];
  let current: string[] = [];
  for (let i = start; i < lines.length; i++) {
    if (lines[i] === '|' && lines[i + 1] === '||') {
      out.push(current.join('\n'));
      current = [];
      i++;
      continue;
    }
    current.push(lines[i]);
  }
  out.push(current.join('\n'));
  return out.join('\n');
}

/** The body of the first fenced code block after `heading`. */
export function fencedBlockAfter(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const at = lines.findIndex((l) => l.trim() === heading);
  if (at < 0) throw new Error(`heading ${JSON.stringify(heading)} not found in the seed`);
  const open = lines.findIndex((l, i) => i > at && l.startsWith('```'));
  const close = lines.findIndex((l, i) => i > open && l.startsWith('```'));
  if (open < 0 || close < 0) throw new Error(`no code block after ${JSON.stringify(heading)}`);
  return lines.slice(open + 1, close).join('\n') + '\n';
}

/** The live-stream seed is plain text without fences: the RTK block runs from its
 * `import { baseApi }` line to `} = liveStreamHistoryApi;`. */
export function rtkBlock(text: string): string {
  const lines = text.split('\n');
  const heading = lines.findIndex((l) => l.trim() === 'RTK Query Ornegi');
  const first = lines.findIndex((l, i) => i > heading && l.startsWith('import { baseApi }'));
  const last = lines.findIndex((l, i) => i > first && l === '} = liveStreamHistoryApi;');
  if (heading < 0 || first < 0 || last < 0) throw new Error('RTK Query block not found in the seed');
  return lines.slice(first, last + 1).join('\n') + '\n';
}

const read = (name: string): string => readFileSync(join(SEEDS_DIR, name), 'utf8');

export interface Snippet {
  /** file under src/seeds/ */
  file: string;
  /** the seed's code, as the seed has it */
  seed: string;
  /** the seed's code with exactly the allowed replacements applied */
  expected: string;
  /** whether leading whitespace is compared (the netflix seed's capture lost all indentation) */
  indentation: boolean;
}

/** Replaces `from` (which must occur) by `to` everywhere. */
function replaceAll(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the seed no longer contains ${JSON.stringify(from)}`);
  return text.split(from).join(to);
}

/** Inserts `line` after the last import line. */
function addImport(text: string, line: string): string {
  const lines = text.split('\n');
  const last = lines.reduce((found, l, i) => (l.startsWith('import ') ? i : found), -1);
  lines.splice(last + 1, 0, line);
  return lines.join('\n');
}

export function snippets(): Snippet[] {
  const netflix = netflixSeedText(read('netflix-scraper-socket-events.md'));
  const browser = fencedBlockAfter(netflix, '### JavaScript (Browser)');
  const hook = fencedBlockAfter(netflix, '### React Hook');
  const rtk = rtkBlock(read('live-stream-history.md'));
  let browserExpected = replaceAll(browser, "'http://localhost:3000/api/getinfo/async'", '`${GATEWAY_URL}/api/getinfo/async`');
  browserExpected = replaceAll(browserExpected, "'http://localhost:3000'", 'GATEWAY_URL');
  browserExpected = replaceAll(browserExpected, "'your-api-key'", 'API_KEY');
  browserExpected = addImport(browserExpected, "import { API_KEY, GATEWAY_URL } from './config.js';");
  let hookExpected = replaceAll(hook, "'http://localhost:3000'", 'GATEWAY_URL');
  hookExpected = addImport(hookExpected, "import { GATEWAY_URL } from './config.js';");
  const rtkExpected = replaceAll(rtk, "from './baseApi';", "from '../baseApi.js';");
  return [
    { file: 'browserExample.ts', seed: browser, expected: browserExpected, indentation: false },
    { file: 'useJobProgress.ts', seed: hook, expected: hookExpected, indentation: false },
    { file: 'liveStreamHistoryApi.ts', seed: rtk, expected: rtkExpected, indentation: true },
  ];
}

/** What is compared: the text, or (for a seed whose capture lost indentation) each line with its
 * leading whitespace removed; every other character, blank lines included, must match. */
export function comparable(text: string, indentation: boolean): string {
  return indentation ? text : text.split('\n').map((l) => l.trimStart()).join('\n');
}
