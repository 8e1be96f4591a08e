import { ApiError, createClient, JobError, subscribeJob } from '@streamproc/client';
import { type FormEvent, useEffect, useRef, useState } from 'react';

import { API_BASE } from '../config';
import { socket } from '../socket';
import { JobProgressView } from './JobProgressView';
import { ResultCard, type Title } from './ResultCard';
import { STEPS, type StepCode, stepOf } from './steps';

const EXAMPLE = 'https://www.netflix.com/tr/title/81616256';

type Run =
  | { phase: 'idle' }
  | { phase: 'starting' }
  | { phase: 'running' | 'completed' | 'failed'; jobId: string }
  | { phase: 'rejected' };

type Failure = { code: string; message: string };

export function TitleLookup({ defaultApiKey }: { defaultApiKey?: string }) {
  const [url, setUrl] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [run, setRun] = useState<Run>({ phase: 'idle' });
  const [progress, setProgress] = useState(0);
  const [label, setLabel] = useState('');
  const [seen, setSeen] = useState<ReadonlySet<StepCode>>(new Set());
  const [result, setResult] = useState<{ title: Title; source: string } | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const runId = useRef(0);

  useEffect(() => {
    if (defaultApiKey) setApiKey((current) => current || defaultApiKey);
  }, [defaultApiKey]);

  async function lookup(event: FormEvent) {
    event.preventDefault();
    const mine = ++runId.current;
    const stillMine = () => mine === runId.current;
    setRun({ phase: 'starting' });
    setProgress(0);
    setLabel('Starting…');
    setSeen(new Set());
    setResult(null);
    setFailure(null);
    let jobId: string;
    try {
      const client = createClient({ baseUrl: API_BASE, apiKey: apiKey.trim() || undefined });
      ({ jobId } = await client.getInfoAsync(url.trim()));
    } catch (err) {
      if (!stillMine()) return;
      setRun({ phase: 'rejected' });
      setFailure(asFailure(err));
      return;
    }
    if (!stillMine()) return;
    setRun({ phase: 'running', jobId });
    try {
      const done = await subscribeJob(socket, jobId, {
        onProgress: (p) => {
          if (!stillMine()) return;
          const code = stepOf(p);
          // a late or replayed event never moves the bar backwards
          setProgress((before) => Math.max(before, p.progress));
          setLabel(p.step || STEPS.find((s) => s.code === code)?.label || code);
          setSeen((before) => new Set(before).add(code));
        },
      });
      if (!stillMine()) return;
      setProgress(100);
      setLabel('Completed');
      setSeen((before) => new Set(before).add('completed'));
      setResult({ title: done.data as Title, source: String(done.source) });
      setRun({ phase: 'completed', jobId });
    } catch (err) {
      if (!stillMine()) return;
      setFailure(asFailure(err));
      setRun({ phase: 'failed', jobId });
    }
  }

  const busy = run.phase === 'starting' || run.phase === 'running';
  return (
    <div className="view">
      <header className="view__intro">
        <h1>Title lookup</h1>
        <p className="muted">
          Paste a Netflix title link. The job checks the cache, then the database, then Netflix, and
          every step arrives here live over Socket.IO.
        </p>
      </header>
      <form className="card form" onSubmit={lookup} aria-label="Title lookup">
        <label className="field field--wide">
          <span className="field__label">Netflix title URL</span>
          <input
            name="url"
            type="url"
            required
            inputMode="url"
            autoComplete="off"
            placeholder={EXAMPLE}
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            data-testid="title-url"
          />
        </label>
        <label className="field">
          <span className="field__label">API key</span>
          <input
            name="apiKey"
            type="password"
            autoComplete="off"
            placeholder="X-API-Key"
            value={apiKey}
            onChange={(e) => setApiKey(e.target.value)}
            data-testid="api-key"
          />
        </label>
        <div className="form__actions">
          <button type="submit" className="button button--primary" disabled={busy} data-testid="lookup">
            {busy ? 'Looking up…' : 'Look up'}
          </button>
          <button type="button" className="button button--ghost" onClick={() => setUrl(EXAMPLE)}>
            Use an example
          </button>
        </div>
      </form>

      {run.phase !== 'idle' && run.phase !== 'rejected' ? (
        <div className="card">
          <JobProgressView
            progress={progress}
            label={label}
            seen={seen}
            outcome={run.phase === 'completed' ? 'completed' : run.phase === 'failed' ? 'failed' : 'running'}
          />
          {'jobId' in run ? (
            <p className="job__id muted">
              Job <code data-testid="job-id">{run.jobId}</code>
            </p>
          ) : null}
        </div>
      ) : null}

      {failure ? (
        <div className="card alert" role="alert" data-testid="job-error">
          <span className="alert__code" data-testid="error-code">
            {failure.code}
          </span>
          <p className="alert__message" data-testid="error-message">
            {failure.message}
          </p>
        </div>
      ) : null}

      {result ? <ResultCard title={result.title} source={result.source} /> : null}
    </div>
  );
}

function asFailure(err: unknown): Failure {
  if (err instanceof JobError || err instanceof ApiError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'NETWORK_ERROR', message: err.message };
  return { code: 'UNKNOWN', message: String(err) };
}
