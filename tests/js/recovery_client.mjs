// Connection state recovery with socket.io-client 4.x's own reconnect: the seed's flow (connect
// with io(base) and its defaults, POST /api/getinfo/async, job:subscribe once, listen), with the
// connection dropped in the middle of the job. The client never subscribes again: the job's
// remaining events can only come back through recovery.
//
//   node recovery_client.mjs --base URL --api-key KEY --url NETFLIX_TITLE_URL \
//        --drop-at PROGRESS --drop engine-close|external [--timeout-ms 45000]
//
// --drop engine-close: when job:progress reaches PROGRESS, call socket.io.engine.close()
//   (what a network blip does); the client reconnects to the same base URL.
// --drop external: at PROGRESS, print {"dropHere": true} on a line of its own and wait; the test
//   then kills the gateway this socket is on (through nginx the client reconnects to another).
// Prints one JSON line with what happened and exits 0 on a terminal event, 1 otherwise.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    'api-key': { type: 'string' },
    url: { type: 'string' },
    'drop-at': { type: 'string', default: '50' },
    drop: { type: 'string', default: 'engine-close' },
    'timeout-ms': { type: 'string', default: '45000' },
  },
});
const modules = process.env.SEED_CLIENT_MODULES;
if (!modules || !args.base || !args['api-key'] || !args.url) {
  console.error('usage: SEED_CLIENT_MODULES=DIR node recovery_client.mjs --base URL --api-key KEY --url URL');
  process.exit(2);
}
const require = createRequire(join(modules, 'package.json'));
const { io } = require('socket.io-client');

const result = { connects: [], events: [], errors: [], disconnects: [] };
let done = false;
let dropped = false;
function finish(code) {
  if (done) return;
  done = true;
  socket.disconnect();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(code);
}
setTimeout(() => {
  result.errors.push(`timeout after ${args['timeout-ms']} ms`);
  finish(1);
}, Number(args['timeout-ms']));

const socket = io(args.base);
socket.on('connect', () => {
  result.connects.push({ id: socket.id, recovered: socket.recovered, transport: socket.io.engine.transport.name });
});
socket.on('disconnect', (reason) => result.disconnects.push(reason));
socket.on('connect_error', (err) => result.errors.push(`connect_error: ${err.message}`));

function record(name) {
  return (data, ...rest) => {
    result.events.push([name, data, rest]);
    if (name === 'job:progress' && !dropped && data.progress === Number(args['drop-at'])) {
      dropped = true;
      if (args.drop === 'engine-close') {
        socket.io.engine.close();
      } else {
        process.stdout.write(JSON.stringify({ dropHere: true, socketId: socket.id }) + '\n');
      }
    }
    if (name !== 'job:progress') finish(name === 'job:completed' ? 0 : 1);
  };
}
socket.on('job:progress', record('job:progress'));
socket.on('job:completed', record('job:completed'));
socket.on('job:error', record('job:error'));

await new Promise((resolve) => socket.once('connect', resolve));
const response = await fetch(`${args.base}/api/getinfo/async`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'X-API-Key': args['api-key'] },
  body: JSON.stringify({ url: args.url }),
});
result.postStatus = response.status;
const { data: { jobId } } = await response.json();
result.jobId = jobId;
socket.emit('job:subscribe', jobId);
