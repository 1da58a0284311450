'use strict';
// A Node.js client for the interop tests, over bindings/node.
//
//   node node_client.js ENDPOINT JOBS_JSON [OPTIONS_JSON]
//
// Pushes the array JOBS_JSON as one request with OPTIONS_JSON (the options of
// client.work: priority, timeout, ...) through workIndividual, and prints, one per line:
//   id <peer id>                        once registered
//   result <index> <job id> <{"err","data"} as JSON>   as each job finishes
//   done <[{"err","data"}, ...] as JSON>      all results, in job order
// then closes the client and exits 0.
const path = require('node:path');
const { Client } = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const endpoint = process.argv[2];
const jobs = JSON.parse(process.argv[3]);
const options = process.argv[4] ? JSON.parse(process.argv[4]) : {};
const print = (line) => process.stdout.write(`${line}\n`);

const client = new Client({ endpoint, name: 'interop-node-client', CON_RETRYTIME: 50 });
// 'connect' is (err, id), as the original's connect(err) with the id after it.
client.once('connect', (err, id) => print(err ? `connect-error ${err.code} ${err.message}` : `id ${id}`));
client.workIndividual(jobs, options,
  (err, data, work) => print(`result ${work.index} ${work.id} ${JSON.stringify({ err: err || null, data: data === undefined ? null : data })}`),
  (err, results) => {
    print(`done ${JSON.stringify(results.map((r) => ({ err: r.err || null, data: r.data === undefined ? null : r.data })))}`);
    client.close().finally(() => process.exit(0));
  });

process.on('SIGTERM', () => client.close().finally(() => process.exit(0)));
