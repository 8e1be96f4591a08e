import { useCallback, useEffect, useRef, useState } from 'react';

import { liveStreamHistoryApi } from '@streamproc/client/rtk';
import { usePullToRefresh } from './usePullToRefresh';

export type Tab = 'broadcasted' | 'watched';
export const PAGE_SIZE = 10;

const EMPTY: Record<Tab, { title: string; text: string }> = {
  broadcasted: {
    title: 'No broadcasts yet',
    text: 'You have no ended streams as a host or a guest. Streams you host or join as a guest show up here once they end.',
  },
  watched: {
    title: 'Nothing watched yet',
    text: 'You have no ended streams watched as audience. Streams you join as a viewer show up here once they end.',
  },
};

type Item = {
  id: string;
  title: string;
  role: 'host' | 'guest' | 'audience' | null;
  thumbnailUrl?: string | null;
  startedAt?: string | null;
  endedAt?: string | null;
  channelName?: string;
};
type Page = { list: Item[]; pagination: { currentPage: number; hasNextPage: boolean; totalItems: number } };

const formatDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function duration(startedAt?: string | null, endedAt?: string | null): string | null {
  if (!startedAt || !endedAt) return null;
  const minutes = Math.round((Date.parse(endedAt) - Date.parse(startedAt)) / 60000);
  if (!Number.isFinite(minutes) || minutes < 0) return null;
  if (minutes < 1) return '<1 min';
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function describe(error: unknown): string {
  const e = error as { status?: number | string; data?: { code?: string; errors?: string[] }; error?: string };
  if (e?.data?.code) return `${e.data.code}: ${(e.data.errors ?? []).join('; ')}`;
  if (e?.status) return `${e.status}${e.error ? `: ${e.error}` : ''}`;
  return 'the history could not be loaded';
}

export function HistoryList({ tab, token }: { tab: Tab; token: string }) {
  const endpoint =
    tab === 'broadcasted'
      ? liveStreamHistoryApi.endpoints.getMyBroadcastedStreams
      : liveStreamHistoryApi.endpoints.getMyWatchedStreams;
  const [trigger] = endpoint.useLazyQuery();
  const [items, setItems] = useState<Item[]>([]);
  const [page, setPage] = useState(0); // the last page loaded (0: none yet)
  const [hasNext, setHasNext] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0); // answers to a superseded load (tab, token, refresh) are dropped
  const sentinel = useRef<HTMLDivElement | null>(null);

  const load = useCallback(
    async (target: number) => {
      const mine = generation.current;
      setLoading(true);
      setError(null);
      try {
        // preferCacheValue=false: always ask the server (page=1 again on refresh)
        const data = (await trigger({ page: target, limit: PAGE_SIZE }, false).unwrap()) as Page;
        if (mine !== generation.current) return;
        setItems((before) => {
          if (target === 1) return data.list;
          const known = new Set(before.map((i) => i.id));
          return [...before, ...data.list.filter((i) => !known.has(i.id))];
        });
        setPage(data.pagination.currentPage);
        setHasNext(data.pagination.hasNextPage);
      } catch (err) {
        if (mine === generation.current) setError(describe(err));
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [trigger],
  );

  const refresh = useCallback(() => {
    generation.current += 1;
    setHasNext(false);
    void load(1);
  }, [load]);

  useEffect(() => {
    generation.current += 1;
    setItems([]);
    setPage(0);
    setHasNext(false);
    if (token) void load(1);
  }, [tab, token, load]);

  // Infinite scroll: the sentinel after the last item loads the next page when it comes into
  // view. Observed again after every load, so a sentinel still visible loads the page after.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasNext || loading || error) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          observer.disconnect();
          void load(page + 1);
        }
      },
      { rootMargin: '0px 0px 120px 0px' },
    );
    observer.observe(el);
    return () => observer.disconnect();
  }, [hasNext, loading, error, page, load]);

  const { pull, ready, handlers } = usePullToRefresh(refresh);

  if (!token) {
    return (
      <div className="empty" data-testid="needs-token">
        <h3>Sign in to see your history</h3>
        <p className="muted">Paste a JWT above (or get a development token) to load your streams.</p>
      </div>
    );
  }

  return (
    <section className="history" aria-label={`${tab} streams`} {...handlers}>
      <div className="ptr" style={{ height: pull }} aria-hidden={pull === 0} data-testid="pull-indicator">
        <span>{ready ? 'Release to refresh' : 'Pull to refresh'}</span>
      </div>
      <div className="history__bar">
        <span className="muted" data-testid="history-count">
          {items.length > 0 ? `${items.length} shown` : loading ? 'Loading…' : ''}
        </span>
        <button type="button" className="button button--ghost" onClick={refresh} disabled={loading} data-testid="refresh">
          Refresh
        </button>
      </div>
      {error ? (
        <div className="alert" role="alert" data-testid="history-error">
          <p className="alert__message">{error}</p>
        </div>
      ) : null}
      {!loading && !error && page > 0 && items.length === 0 ? (
        <div className="empty" data-testid="empty-state" data-tab={tab}>
          <h3>{EMPTY[tab].title}</h3>
          <p className="muted">{EMPTY[tab].text}</p>
        </div>
      ) : null}
      <ul className="streams" data-testid="history-list">
        {items.map((item) => (
          <li key={item.id} className="stream" data-testid="history-item" data-id={item.id}>
            <div className="stream__thumb" aria-hidden="true">
              {item.thumbnailUrl ? <img src={item.thumbnailUrl} alt="" loading="lazy" /> : item.title.slice(0, 1)}
            </div>
            <div className="stream__body">
              <h3 className="stream__title">{item.title}</h3>
              <p className="stream__meta muted">
                {item.channelName ? <span>#{item.channelName}</span> : null}
                {item.endedAt ? <span>ended {formatDate.format(new Date(item.endedAt))}</span> : null}
                {duration(item.startedAt, item.endedAt) ? <span>{duration(item.startedAt, item.endedAt)}</span> : null}
              </p>
            </div>
            {item.role ? <span className={`role role--${item.role}`}>{item.role}</span> : null}
          </li>
        ))}
      </ul>
      {hasNext ? <div ref={sentinel} className="sentinel" data-testid="sentinel" /> : null}
      {loading && items.length > 0 ? <p className="loading muted">Loading more…</p> : null}
      {!hasNext && items.length > 0 && !loading ? (
        <p className="end muted" data-testid="end-of-list">
          That's everything.
        </p>
      ) : null}
    </section>
  );
}
