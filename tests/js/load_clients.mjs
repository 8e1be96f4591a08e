// Many seed-style sockets in one Node process, for the gateway-kill fault test: each socket
// connects with io(base) and socket.io-client 4.x's defaults (reconnect on, connection state
// recovery when the server offers it), then for each of its jobs POSTs /api/getinfo/async and
// subscribes once, as the seed's client does. It never subscribes again: events that happen
// while a socket is away can only come back through recovery.
//
//   SEED_CLIENT_MODULES=DIR node load_clients.mjs --base URL --api-key KEY --plan FILE \
//        [--timeout-ms 300000] [--settle-ms 1500]
//
// FILE: JSON, one array of title URLs per socket. Prints JSON lines on stdout:
//   {"subscribed": n}                   once every job is posted and subscribed (acked)
//   {"status": {"ended": e, "total": n}}  every 250 ms
//   {"result": [...]}                    at the end: per socket its connects ({id, recovered}),
//                                         disconnect reasons, errors, per job its events as
//                                         [name, stepCode | source | error code, offset arg?]
//                                         and its title URL (urls)
// Exits 0 when every job's terminal event reached its socket (then waits --settle-ms for
// anything wrongly sent after it), 1 on timeout.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    'api-key': { type: 'string' },
    plan: { type: 'string' },
    'timeout-ms': { type: 'string', default: '300000' },
    'settle-ms': { type: 'string', default: '1500' },
  },
});
const modules = process.env.SEED_CLIENT_MODULES;
if (!modules || !args.base || !args['api-key'] || !args.plan) {
  console.error('usage: SEED_CLIENT_MODULES=DIR node load_clients.mjs --base URL --api-key KEY --plan FILE');
  process.exit(2);
}
const require = createRequire(join(modules, 'package.json'));
const { io } = require('socket.io-client');
const plan = JSON.parse(readFileSync(args.plan, 'utf8'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const line = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function summary(name, data) {
  if (name === 'job:progress') return data.stepCode;
  if (name === 'job:completed') return data.source;
  return data.error && data.error.code;
}

class Follower {
  constructor(index, urls) {
    this.index = index;
    this.plan = urls;
    this.jobs = {}; // jobId -> events
    this.urls = {}; // jobId -> the title URL it was posted for
    this.out = { index, connects: [], disconnects: [], errors: [], jobs: this.jobs, urls: this.urls };
    this.socket = io(args.base);
    this.socket.on('connect', () => this.out.connects.push({ id: this.socket.id, recovered: this.socket.recovered }));
    this.socket.on('disconnect', (reason) => this.out.disconnects.push(reason));
    this.socket.on('connect_error', (err) => this.out.errors.push(`connect_error: ${err.message}`));
    for (const name of ['job:progress', 'job:completed', 'job:error']) {
      this.socket.on(name, (data, ...rest) => {
        const events = this.jobs[data.jobId] || (this.jobs[data.jobId] = []);
        events.push([name, summary(name, data), rest.length === 1 && typeof rest[0] === 'string']);
      });
    }
  }

  ended(jobId) {
    return (this.jobs[jobId] || []).some(([name]) => name !== 'job:progress');
  }

  async post(url) {
    for (let attempt = 0; attempt < 30; attempt += 1) {
      try {
        const response = await fetch(`${args.base}/api/getinfo/async`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-API-Key': args['api-key'] },
          body: JSON.stringify({ url }),
        });
        if (response.status === 202) return (await response.json()).data.jobId;
        // 503: cannot append now; 502/504: nginx lost the gateway mid-request (job unknown)
        if (![502, 503, 504].includes(response.status)) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
      } catch (err) {
        if (String(err.message).startsWith('POST ')) throw err;
      }
      await sleep(Math.min(2000, 50 * 2 ** attempt));
    }
    throw new Error(`POST ${url}: still failing after 30 tries`);
  }

  async run() {
    if (!this.socket.connected) await new Promise((resolve) => this.socket.once('connect', resolve));
    for (const url of this.plan) {
      const jobId = await this.post(url);
      this.jobs[jobId] = this.jobs[jobId] || [];
      this.urls[jobId] = url;
      const ack = await this.socket.timeout(15000).emitWithAck('job:subscribe', jobId);
      if (!ack || !ack.ok) throw new Error(`job:subscribe ${jobId} refused: ${JSON.stringify(ack)}`);
    }
  }
}

const followers = plan.map((urls, i) => new Follower(i, urls));
const pairs = () => followers.flatMap((f) => Object.keys(f.jobs).map((job) => [f, job]));
const total = plan.reduce((n, urls) => n + urls.length, 0);
let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  for (const f of followers) f.socket.disconnect();
  // exit only once the (long) line is written: a pipe takes 64 KiB at a time
  process.stdout.write(JSON.stringify({ result: followers.map((f) => f.out) }) + '\n', () => process.exit(code));
}
setTimeout(() => {
  for (const f of followers) f.out.errors.push(`timeout after ${args['timeout-ms']} ms`);
  finish(1);
}, Number(args['timeout-ms']));

const status = setInterval(() => {
  line({ status: { ended: pairs().filter(([f, job]) => f.ended(job)).length, total } });
}, 250);

try {
  await Promise.all(followers.map((f) => f.run()));
} catch (err) {
  for (const f of followers) f.out.errors.push(`run: ${err.message}`);
  finish(1);
}
line({ subscribed: pairs().length });
while (pairs().some(([f, job]) => !f.ended(job))) await sleep(100);
clearInterval(status);
await sleep(Number(args['settle-ms']));
finish(0);
