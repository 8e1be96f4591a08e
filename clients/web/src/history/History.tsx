import { type FormEvent, useState } from 'react';

import { fetchDevToken, saveToken } from '../config';
import { HistoryList, type Tab } from './HistoryList';

const TABS: ReadonlyArray<{ id: Tab; label: string; hint: string }> = [
  { id: 'broadcasted', label: 'Broadcasted', hint: 'as host or guest' },
  { id: 'watched', label: 'Watched', hint: 'as audience' },
];

type Props = { token: string; onToken: (token: string) => void; devTokens: boolean };

export function History({ token, onToken, devTokens }: Props) {
  const [tab, setTab] = useState<Tab>('broadcasted');
  const [draft, setDraft] = useState(token);
  const [userId, setUserId] = useState('');
  const [devError, setDevError] = useState<string | null>(null);

  const use = (value: string) => {
    const trimmed = value.trim();
    saveToken(trimmed);
    onToken(trimmed);
    setDraft(trimmed);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    use(draft);
  };
  const devToken = async () => {
    setDevError(null);
    try {
      use(await fetchDevToken(userId.trim()));
    } catch (err) {
      setDevError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <div className="view">
      <header className="view__intro">
        <h1>Stream history</h1>
        <p className="muted">Your ended live streams: the ones you broadcast, and the ones you watched.</p>
      </header>

      <form className="card form" onSubmit={submit} aria-label="Token">
        <label className="field field--wide">
          <span className="field__label">Bearer token (JWT)</span>
          <input
            name="token"
            type="password"
            autoComplete="off"
            placeholder="eyJhbGciOi…"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            data-testid="token"
          />
        </label>
        <div className="form__actions">
          <button type="submit" className="button button--primary" data-testid="use-token">
            Use token
          </button>
          {token ? (
            <button type="button" className="button button--ghost" onClick={() => use('')}>
              Sign out
            </button>
          ) : null}
        </div>
        {devTokens ? (
          <div className="devtoken" data-testid="dev-token-panel">
            <span className="devtoken__tag">development</span>
            <label className="field">
              <span className="field__label">User id</span>
              <input
                name="userId"
                placeholder="65f000000000000000000001"
                value={userId}
                onChange={(e) => setUserId(e.target.value)}
                data-testid="dev-user-id"
              />
            </label>
            <button
              type="button"
              className="button"
              onClick={devToken}
              disabled={!userId.trim()}
              data-testid="dev-token"
            >
              Get a development token
            </button>
            {devError ? (
              <p className="alert__message" role="alert">
                {devError}
              </p>
            ) : null}
          </div>
        ) : null}
      </form>

      <div className="card">
        <div className="tabs" role="tablist" aria-label="History">
          {TABS.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              className={`tab ${tab === t.id ? 'tab--active' : ''}`}
              onClick={() => setTab(t.id)}
              data-testid={`tab-${t.id}`}
            >
              {t.label}
              <span className="tab__hint">{t.hint}</span>
            </button>
          ))}
        </div>
        <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
          <HistoryList key={tab} tab={tab} token={token} />
        </div>
      </div>
    </div>
  );
}
