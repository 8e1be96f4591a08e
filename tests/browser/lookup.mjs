// The title lookup on the demo page, in a real Chromium. SCENARIO picks one:
//   fresh     a new title: the bar steps 0 -> 100, then the result card
//   late      the POST's answer is held until the job has completed (a cache hit), so the page
//             subscribes to a job that already ended: the result must still show
//   error     a title Netflix answers 403 for: the error with its code
//   drop      mid-job, the page's own Socket.IO engine is closed; the bar still completes and
//             socket.recovered is true
//   handoff   like drop, but pytest SIGKILLs the gateway the socket is on (a line
//             {"event":"mid-job"} on stdout, then it waits for "go" on stdin)
// Env: PAGE_URL, TITLE_URL, API_KEY, SCENARIO; GATEWAY_URL (late: to poll the job);
// SCREENSHOT_DIR (optional).
import { createInterface } from 'node:readline';

import { RECORD_PROGRESS, env, report, screenshot, withBrowser } from './browser.mjs';

const scenario = env('SCENARIO');
const pageUrl = env('PAGE_URL');
const titleUrl = env('TITLE_URL');
const apiKey = env('API_KEY');

async function jobState(jobId) {
  const response = await fetch(`${env('GATEWAY_URL')}/api/jobs/${jobId}`, { headers: { 'X-API-Key': apiKey } });
  return (await response.json()).data;
}

async function waitForStdin(line) {
  const rl = createInterface({ input: process.stdin });
  for await (const got of rl) {
    if (got.trim() === line) {
      rl.close();
      return;
    }
  }
  throw new Error(`stdin closed before "${line}"`);
}

await report(async (result) =>
  withBrowser({}, async (page, { logs }) => {
    result.logs = logs;
    await page.addInitScript(RECORD_PROGRESS);

    if (scenario === 'late') {
      // Hold the 202 until the job it names has ended: the page cannot subscribe before that.
      await page.route('**/api/getinfo/async', async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        const jobId = body.data.jobId;
        const deadline = Date.now() + 30000;
        let state = await jobState(jobId);
        while (state.status !== 'completed' && state.status !== 'failed' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          state = await jobState(jobId);
        }
        result.statusBeforeThePageKnewTheJob = state.status;
        result.sourceBeforeThePageKnewTheJob = state.source;
        await route.fulfill({ response, json: body });
      });
    }

    await page.goto(pageUrl);
    await page.getByTestId('connection').and(page.locator('[data-state=connected]')).waitFor();
    await page.getByTestId('api-key').fill(apiKey);
    await page.getByTestId('title-url').fill(titleUrl);
    await page.getByTestId('lookup').click();

    if (scenario === 'error') {
      await page.getByTestId('job-error').waitFor();
      result.errorCode = await page.getByTestId('error-code').textContent();
      result.errorMessage = await page.getByTestId('error-message').textContent();
      result.seen = await page.evaluate(() => window.__seenProgress);
      result.screenshot = await screenshot(page, 'error');
      return result;
    }

    if (scenario !== 'late') {
      // The fake Netflix holds this title's page: the job sits at scraping_netflix (50).
      await page.locator('[role=progressbar][aria-valuenow="50"]').waitFor();
      result.labelMidJob = await page.getByTestId('step-label').textContent();
      result.jobId = await page.getByTestId('job-id').textContent();
      if (scenario === 'fresh') result.screenshotMidJob = await screenshot(page, 'progress-mid-job');
      if (scenario === 'drop') {
        await page.evaluate(() => window.__streamproc.socket.io.engine.close());
        result.dropped = true;
      }
      if (scenario === 'handoff') {
        const engineId = await page.evaluate(() => window.__streamproc.socket.io.engine.id);
        const transport = await page.evaluate(() => window.__streamproc.socket.io.engine.transport.name);
        process.stdout.write(`${JSON.stringify({ event: 'mid-job', engineId, transport, jobId: result.jobId })}\n`);
        await waitForStdin('go');
        result.dropped = true;
      }
    }

    await page.getByTestId('result-card').waitFor({ timeout: 45000 });
    result.title = await page.getByTestId('result-title').textContent();
    result.source = await page.getByTestId('source-badge').textContent();
    result.seen = await page.evaluate(() => window.__seenProgress);
    result.steps = await page.locator('.step').evaluateAll((els) =>
      els.map((el) => [el.getAttribute('data-step'), el.getAttribute('data-state')]),
    );
    result.recovered = await page.evaluate(() => window.__streamproc.socket.recovered ?? null);
    result.connection = await page.getByTestId('connection').getAttribute('data-state');
    if (scenario === 'fresh') result.screenshot = await screenshot(page, 'result-card');
    if (scenario === 'drop') result.screenshot = await screenshot(page, 'recovered');
    return result;
  }),
);
