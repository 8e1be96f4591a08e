import { type MouseEvent, useEffect, useState } from 'react';

import { API_BASE, type DevConfig, fetchDevConfig, loadToken } from './config';
import { History } from './history/History';
import { TitleLookup } from './lookup/TitleLookup';
import { type ConnectionState, useConnection } from './socket';

type View = 'lookup' | 'history';
const PATHS: Record<View, string> = { lookup: '/', history: '/history' };

function viewOf(pathname: string): View {
  return pathname.replace(/\/+$/, '') === '/history' ? 'history' : 'lookup';
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  recovered: 'Recovered',
  offline: 'Offline',
};

export function App() {
  const [view, setView] = useState<View>(() => viewOf(window.location.pathname));
  const [token, setToken] = useState(loadToken);
  const [dev, setDev] = useState<DevConfig | null>(null);
  const connection = useConnection();

  useEffect(() => {
    const onPop = () => setView(viewOf(window.location.pathname));
    window.addEventListener('popstate', onPop);
    void fetchDevConfig().then(setDev);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const go = (next: View) => (e: MouseEvent) => {
    e.preventDefault();
    // keep ?api= (and any other query) when switching views
    window.history.pushState(null, '', PATHS[next] + window.location.search);
    setView(next);
  };
  const crossOrigin = API_BASE !== window.location.origin;

  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar__inner">
          <a className="brand" href={PATHS.lookup + window.location.search} onClick={go('lookup')}>
            <span className="brand__mark" aria-hidden="true">
              N
            </span>
            <span className="brand__name">streamproc</span>
          </a>
          <nav className="nav" aria-label="Views">
            {(['lookup', 'history'] as const).map((v) => (
              <a
                key={v}
                href={PATHS[v] + window.location.search}
                onClick={go(v)}
                className={`nav__link ${view === v ? 'nav__link--active' : ''}`}
                aria-current={view === v ? 'page' : undefined}
                data-testid={`nav-${v}`}
              >
                {v === 'lookup' ? 'Title lookup' : 'History'}
              </a>
            ))}
          </nav>
          <span
            className={`conn conn--${connection}`}
            role="status"
            aria-live="polite"
            data-testid="connection"
            data-state={connection}
            title="Socket.IO connection"
          >
            <span className="conn__dot" aria-hidden="true" />
            {CONNECTION_TEXT[connection]}
          </span>
        </div>
      </header>
      <main className="main">
        {view === 'lookup' ? (
          <TitleLookup defaultApiKey={dev?.apiKey} />
        ) : (
          <History token={token} onToken={setToken} devTokens={Boolean(dev?.devToken)} />
        )}
      </main>
      <footer className="footer muted">
        <span>
          Gateway <code>{API_BASE}</code>
          {crossOrigin ? ' (cross-origin)' : ''}
        </span>
        <span>
          <a href={`${API_BASE}/api/openapi.json`}>OpenAPI</a>
        </span>
      </footer>
    </div>
  );
}
