'use strict';
// A Node.js worker for the interop tests, over bindings/node.
//
//   node node_worker.js ENDPOINT [OPTIONS_JSON]
//
// OPTIONS_JSON: {"slots": n, "prioritySlots": {...}, "services": [...], "hold": bool}.
// Answers a job {"a": x, "b": y} with {"worker": "node", "sum": x + y, "args": args},
// any other JSON job with {"worker": "node", "args": args}, a job {"fail": CODE} with
// the error {code: CODE}, and a raw (Buffer) job with its bytes reversed ("progress" and
// "failBefore" are described in answer()). With
// "hold", jobs are answered only once a line "release" arrives on stdin (and at once
// after that). Prints, one per line:
//   ready <peer id>
//   started <job id> <priority> <args as JSON, or hex for a Buffer>
//   answered <job id>
//   aborted <job id> <reason>
//   sysmsg <from> <content as JSON>
const path = require('node:path');
const readline = require('node:readline');
const { Worker } = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const endpoint = process.argv[2];
const options = process.argv[3] ? JSON.parse(process.argv[3]) : {};
const print = (line) => process.stdout.write(`${line}\n`);

const worker = new Worker({
  endpoint,
  name: 'interop-node-worker',
  slots: options.slots || 10,
  prioritySlots: options.prioritySlots || {},
  services: options.services || [],
  CON_RETRYTIME: 50,
});

let released = !options.hold;
const held = [];

function answer(w, handler) {
  if (w.aborted) return;
  const args = w.args;
  // {"progress": [...]}: each value reported as the job's progress first (PROTOCOL §14.4);
  // {"failBefore": n}: attempts before the n-th fail with EBUSY (the manager retries).
  if (args && typeof args === 'object' && Array.isArray(args.progress)) {
    for (const report of args.progress) w.progress({ attempt: w.attempt, report });
  }
  if (args && typeof args === 'object' && Number.isInteger(args.failBefore) && w.attempt < args.failBefore) {
    print(`answered ${w.id}`);
    handler({ code: 'EBUSY', message: `attempt ${w.attempt} of job ${w.id} fails as asked` });
    return;
  }
  print(`answered ${w.id}`); // before the answer leaves, so that it is printed before anyone sees it
  if (Buffer.isBuffer(args)) {
    handler(null, Buffer.from(args).reverse());
  } else if (args && typeof args === 'object' && typeof args.fail === 'string') {
    handler({ code: args.fail, message: `node worker failed job ${w.id} as asked` });
  } else if (args && typeof args === 'object' && typeof args.a === 'number' && typeof args.b === 'number') {
    handler(null, { worker: 'node', sum: args.a + args.b, args });
  } else {
    handler(null, { worker: 'node', args });
  }
}

worker.on('work', (w, handler) => {
  const shown = Buffer.isBuffer(w.args) ? w.args.toString('hex') : JSON.stringify(w.args);
  print(`started ${w.id} ${w.priority} ${shown}`);
  if (released) answer(w, handler);
  else held.push([w, handler]);
});
worker.on('abort', (w, reason) => print(`aborted ${w.id} ${reason}`));
worker.on('ready', () => print(`ready ${worker.id}`));
worker.on('sysmsg', (msg, from) => print(`sysmsg ${from} ${JSON.stringify(msg)}`));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'release') {
    released = true;
    for (const [w, handler] of held.splice(0)) answer(w, handler);
  }
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  worker.stop().finally(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

worker.start();
