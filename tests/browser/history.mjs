// The history view in a real Chromium: a development token from the gateway, the Broadcasted
// tab paginating on scroll (IntersectionObserver on a sentinel, driven by hasNextPage),
// pull-to-refresh (a touch drag: page=1 again) and the refresh button, the Watched tab's
// empty state, and a user with no streams at all (both empty states).
// Env: PAGE_URL, USER_ID (has TOTAL ended streams as host/guest, none watched), EMPTY_USER_ID,
// TOTAL, NEW_TITLE (the stream ended before the pull); SCREENSHOT_DIR (optional). Protocol: prints {"event":"listed"} once the list has
// loaded and scrolled to the end, then waits for "go" on stdin (pytest ends one more stream).
import { createInterface } from 'node:readline';

import { env, report, screenshot, withBrowser } from './browser.mjs';

const pageUrl = env('PAGE_URL');
const userId = env('USER_ID');
const emptyUserId = env('EMPTY_USER_ID');
const total = Number(env('TOTAL'));
const newTitle = env('NEW_TITLE');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function waitForStdin(expected) {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error(`stdin closed before "${expected}"`);
    if (value.trim() === expected) return;
  }
}

const items = (page) => page.getByTestId('history-item');

async function signIn(page, user) {
  await page.getByTestId('dev-user-id').fill(user);
  await page.getByTestId('dev-token').click();
}

/** A finger dragging the list down from the top of the page (touch events via CDP). */
async function pullDown(page, cdp) {
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = await page.getByTestId('history-list').boundingBox();
  const x = box.x + box.width / 2;
  let y = box.y + 20;
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y }] });
  for (let i = 0; i < 12; i += 1) {
    y += 15;
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y }] });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

await report(async (result) =>
  withBrowser({ hasTouch: true, viewport: { width: 900, height: 760 } }, async (page, { context, logs }) => {
    result.logs = logs;
    const requests = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/api/v1/live-stream/my-')) {
        requests.push(`${url.pathname.split('/').pop()}?page=${url.searchParams.get('page')}`);
      }
    });
    result.requests = requests;
    const cdp = await context.newCDPSession(page);

    await page.goto(`${pageUrl.replace(/\/$/, '')}/history${new URL(pageUrl).search}`);
    await page.getByTestId('needs-token').waitFor();
    await signIn(page, userId);

    // Page 1 only: the sentinel is below the fold.
    await items(page).nth(9).waitFor();
    result.firstPageCount = await items(page).count();
    result.requestsBeforeScroll = [...requests];
    result.roles = await page.locator('.stream .role').allTextContents();
    result.screenshotTabs = await screenshot(page, 'history-tabs');

    // Scroll until the end-of-list marker: every page loads once, then nothing more is asked.
    while (!(await page.getByTestId('end-of-list').isVisible())) {
      await page.mouse.wheel(0, 600);
      await page.waitForTimeout(100); // pacing for the wheel, not an assertion
    }
    result.countAtEnd = await items(page).count();
    result.idsAtEnd = await items(page).evaluateAll((els) => els.map((el) => el.dataset.id));
    result.requestsAtEnd = [...requests];
    result.sentinelAtEnd = await page.getByTestId('sentinel').count();

    // Pull-to-refresh after one more stream ended: page=1 again, the new one first.
    process.stdout.write(`${JSON.stringify({ event: 'listed' })}\n`);
    await waitForStdin('go');
    const firstPage = (r) => r.url().includes('/my-broadcasted-streams?') && new URL(r.url()).searchParams.get('page') === '1';
    const before = requests.length;
    await Promise.all([page.waitForResponse(firstPage), pullDown(page, cdp)]);
    await page.locator('.stream__title').first().and(page.getByText(newTitle, { exact: true })).waitFor();
    result.requestsAfterPull = requests.slice(before);
    result.countAfterPull = await items(page).count();
    result.firstTitleAfterPull = await page.locator('.stream__title').first().textContent();

    // The refresh button does the same for a mouse.
    const beforeButton = requests.length;
    await Promise.all([page.waitForResponse(firstPage), page.getByTestId('refresh').click()]);
    result.requestsAfterButton = requests.slice(beforeButton);

    // Watched: this user watched nothing.
    await page.getByTestId('tab-watched').click();
    await page.getByTestId('empty-state').and(page.locator('[data-tab=watched]')).waitFor();
    result.watchedEmpty = await page.getByTestId('empty-state').textContent();

    // Someone with no streams at all: both empty states (Broadcasted first: the previous user's
    // Broadcasted tab had items, so its empty state cannot be left over from them).
    await page.getByTestId('tab-broadcasted').click();
    await items(page).first().waitFor();
    await signIn(page, emptyUserId);
    await page.getByTestId('empty-state').and(page.locator('[data-tab=broadcasted]')).waitFor();
    result.broadcastedEmpty = await page.getByTestId('empty-state').textContent();
    result.screenshotEmpty = await screenshot(page, 'empty-state');
    await page.getByTestId('tab-watched').click();
    await page.getByTestId('empty-state').and(page.locator('[data-tab=watched]')).waitFor();
    result.watchedEmptyForNobody = await page.getByTestId('empty-state').textContent();
    result.total = total;
    return result;
  }),
);
