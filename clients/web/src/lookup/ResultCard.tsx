import { useState } from 'react';

export type Title = {
  title: string;
  year?: number | null;
  plot?: string | null;
  genres?: string[] | null;
  cast?: string[] | null;
  backdrop?: string | null;
  maturityRating?: string | null;
  type?: string | null;
};

const SOURCE_TEXT: Record<string, string> = {
  cache: 'From the cache',
  database: 'From the database',
  netflix: 'Fresh from Netflix',
};

export function ResultCard({ title, source }: { title: Title; source: string }) {
  const [imageFailed, setImageFailed] = useState(false);
  const showImage = Boolean(title.backdrop) && !imageFailed;
  return (
    <article className="result" data-testid="result-card" aria-label={`Result: ${title.title}`}>
      <div className="result__backdrop">
        {showImage ? (
          <img src={title.backdrop ?? undefined} alt="" loading="lazy" onError={() => setImageFailed(true)} />
        ) : (
          <div className="result__placeholder" aria-hidden="true">
            {title.title.slice(0, 1)}
          </div>
        )}
        <span className={`badge badge--${source}`} data-testid="source-badge" title={SOURCE_TEXT[source]}>
          {source}
        </span>
      </div>
      <div className="result__body">
        <h2 className="result__title" data-testid="result-title">
          {title.title}
        </h2>
        <p className="result__meta">
          {title.year ? <span>{title.year}</span> : null}
          {title.maturityRating ? <span className="pill">{title.maturityRating}</span> : null}
          {title.type ? <span className="muted">{title.type}</span> : null}
        </p>
        {title.plot ? <p className="result__plot">{title.plot}</p> : null}
        {title.genres && title.genres.length > 0 ? (
          <div className="result__row">
            <h3>Genres</h3>
            <ul className="chips">
              {title.genres.map((g) => (
                <li key={g} className="chip">
                  {g}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        {title.cast && title.cast.length > 0 ? (
          <div className="result__row">
            <h3>Cast</h3>
            <p className="result__cast">{title.cast.join(', ')}</p>
          </div>
        ) : null}
        <p className="result__source muted">{SOURCE_TEXT[source] ?? source}</p>
      </div>
    </article>
  );
}
