// A page on an allowed origin and one on another origin call the gateway with credentials:
// fetch (a simple GET and a preflighted POST) and socket.io-client with withCredentials, over
// long-polling and over WebSocket. Env: GATEWAY_URL, ALLOWED_PAGE, OTHER_PAGE, API_KEY.
import { env, report, withBrowser } from './browser.mjs';

await report(async (result) =>
  withBrowser({}, async (page, { logs }) => {
    result.logs = logs;
    for (const [name, url] of [['allowed', env('ALLOWED_PAGE')], ['other', env('OTHER_PAGE')]]) {
      await page.goto(url);
      result[name] = await page.evaluate(([gateway, key]) => window.probe(gateway, key), [
        env('GATEWAY_URL'),
        env('API_KEY'),
      ]);
      result[`${name}Origin`] = await page.evaluate(() => window.location.origin);
    }
    return result;
  }),
);
