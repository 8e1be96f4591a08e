// The seed's JavaScript client (seeds/netflix-scraper-socket-events.md, "Kullanım Örneği"), step
// for step: connect with socket.io-client, POST /api/getinfo/async with X-API-Key, read
// data.jobId, emit job:subscribe, collect job:progress / job:completed / job:error. Prints one
// JSON object on stdout and exits (0 on a terminal event, 1 on a timeout or a failure).
//
//   node seed_client.mjs --base URL [--post-base URL] --transport polling|websocket \
//        --api-key KEY --url NETFLIX_TITLE_URL [--timeout-ms 30000]
//
// socket.io-client is not in the repository: `make js-deps` installs the version pinned in
// tests/js/package-lock.json into SEED_CLIENT_MODULES (~/.cache/streamproc/node-client).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    'post-base': { type: 'string' },
    transport: { type: 'string', default: 'websocket' },
    'api-key': { type: 'string' },
    url: { type: 'string' },
    'timeout-ms': { type: 'string', default: '30000' },
  },
});
const modules = process.env.SEED_CLIENT_MODULES;
if (!modules || !args.base || !args['api-key'] || !args.url) {
  console.error('usage: SEED_CLIENT_MODULES=DIR node seed_client.mjs --base URL --api-key KEY --url URL');
  process.exit(2);
}
const require = createRequire(join(modules, 'package.json'));
const { io } = require('socket.io-client');
const clientVersion = require('socket.io-client/package.json').version;

const result = {
  clientVersion,
  transport: args.transport,
  steps: [], // what happened, in order: connect, post, subscribe, then each event name
  events: [], // [name, payload] of every job event received
  errors: [], // connect_error / disconnect / fetch failures
};
let done = false;
function finish(code) {
  if (done) return;
  done = true;
  result.engineId = socket.io.engine ? socket.io.engine.id : null;
  result.finalTransport = socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null;
  socket.disconnect();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(code);
}
const timer = setTimeout(() => {
  result.errors.push(`timeout after ${args['timeout-ms']} ms`);
  finish(1);
}, Number(args['timeout-ms']));

// Bağlan (connect) — only the transport is chosen, everything else is the client's default
const socket = io(args.base, { transports: [args.transport], reconnection: false });

socket.on('connect', () => {
  result.steps.push('connect');
  result.socketId = socket.id;
  result.connectTransport = socket.io.engine.transport.name;
});
socket.on('connect_error', (err) => {
  result.errors.push(`connect_error: ${err.message}`);
  finish(1);
});
socket.on('disconnect', (reason) => {
  if (!done) {
    result.errors.push(`disconnect: ${reason}`);
    finish(1);
  }
});
socket.on('job:progress', (data) => {
  result.steps.push('job:progress');
  result.events.push(['job:progress', data]);
});
socket.on('job:completed', (data) => {
  result.steps.push('job:completed');
  result.events.push(['job:completed', data]);
  socket.emit('job:unsubscribe', result.jobId);
  clearTimeout(timer);
  finish(0);
});
socket.on('job:error', (data) => {
  result.steps.push('job:error');
  result.events.push(['job:error', data]);
  clearTimeout(timer);
  finish(0);
});

// Job oluştur (create the job through the API)
try {
  const response = await fetch(`${args['post-base'] || args.base}/api/getinfo/async`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': args['api-key'] },
    body: JSON.stringify({ url: args.url }),
  });
  result.postStatus = response.status;
  const {
    data: { jobId },
  } = await response.json();
  result.jobId = jobId;
  result.steps.push('post');
} catch (err) {
  result.errors.push(`post failed: ${err.message}`);
  clearTimeout(timer);
  finish(1);
}

// Job'a abone ol (subscribe); socket.io buffers the emit until the connection is up
socket.emit('job:subscribe', result.jobId);
result.steps.push('subscribe');
