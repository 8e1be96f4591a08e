// The seed's job steps, in order (netflix-scraper-socket-events.md, "Adımlar").
export type StepCode =
  | 'created'
  | 'checking_cache'
  | 'checking_database'
  | 'scraping_netflix'
  | 'saving_to_database'
  | 'completed';

export const STEPS: ReadonlyArray<{ code: StepCode; progress: number; label: string }> = [
  { code: 'created', progress: 0, label: 'Job created' },
  { code: 'checking_cache', progress: 10, label: 'Checking the cache' },
  { code: 'checking_database', progress: 30, label: 'Checking the database' },
  { code: 'scraping_netflix', progress: 50, label: 'Scraping Netflix' },
  { code: 'saving_to_database', progress: 80, label: 'Saving to the database' },
  { code: 'completed', progress: 100, label: 'Completed' },
];

/** The step a progress event is at: its `stepCode` when sent, else the step of its percentage. */
export function stepOf(event: { progress: number; stepCode?: string | null }): StepCode {
  const byCode = STEPS.find((s) => s.code === event.stepCode);
  if (byCode) return byCode.code;
  let found: StepCode = 'created';
  for (const s of STEPS) if (event.progress >= s.progress) found = s.code;
  return found;
}
