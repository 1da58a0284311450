'use strict';
// A client in its own process, for tests that freeze one (SIGSTOP) so that the
// manager declares it dead: it pushes N jobs {n: 0 .. N-1} with keepState: false (a
// job lost with the session would fail with ECONNLOST) and prints one JSON line per
// event: {"event": "connect", "id"}, {"event": "result", "n", "err", "data"}, then
// {"event": "done"}.
const { Client } = require('proletariat');

const [port, count] = process.argv.slice(2).map(Number);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const client = new Client({ port, CON_RETRYTIME: 50, keepState: false, systemMessages: false, logger: null });
client.on('connect', (err, id) => print({ event: 'connect', id, identity: client.identity, err: err ? err.code : null }));
const items = Array.from({ length: count }, (_, n) => ({ n }));
client.workIndividual(items, (err, data, work) => print({ event: 'result', n: work.index, err, data }),
  () => print({ event: 'done' }));
