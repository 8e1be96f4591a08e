import { STEPS, type StepCode } from './steps';

export type StepState = 'done' | 'active' | 'pending' | 'skipped' | 'failed';

type Props = {
  progress: number;
  label: string;
  seen: ReadonlySet<StepCode>;
  outcome: 'running' | 'completed' | 'failed';
};

export function JobProgressView({ progress, label, seen, outcome }: Props) {
  const reached = STEPS.filter((s) => seen.has(s.code)).map((s) => s.code);
  const last = reached[reached.length - 1];
  const stateOf = (code: StepCode, index: number): StepState => {
    if (seen.has(code)) {
      if (code === last && outcome === 'running' && code !== 'completed') return 'active';
      if (code === last && outcome === 'failed') return 'failed';
      return 'done';
    }
    const lastIndex = last ? STEPS.findIndex((s) => s.code === last) : -1;
    if (outcome === 'completed' && index < STEPS.length - 1) return 'skipped';
    if (outcome === 'completed') return 'done';
    return index < lastIndex ? 'skipped' : 'pending';
  };
  return (
    <section className={`job job--${outcome}`} aria-label="Job progress">
      <div className="job__head">
        <span className="job__label" data-testid="step-label">
          {label}
        </span>
        <span className="job__percent" data-testid="progress-value">
          {progress}%
        </span>
      </div>
      <div
        className="bar"
        role="progressbar"
        aria-label="Job progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={progress}
        aria-valuetext={`${progress}% – ${label}`}
        data-testid="progress-bar"
      >
        <div className="bar__fill" style={{ width: `${progress}%` }} />
      </div>
      <ol className="steps">
        {STEPS.map((s, i) => {
          const state = stateOf(s.code, i);
          return (
            <li key={s.code} className={`step step--${state}`} data-step={s.code} data-state={state}>
              <span className="step__dot" aria-hidden="true" />
              <span className="step__name">{s.label}</span>
              <span className="step__pct">{s.progress}%</span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
