'use strict';
// A worker in its own process, for tests that kill one: it takes jobs, never answers,
// and prints "ready <id>" once its offer is accepted and "got <id>" per job.
const { Worker } = require('proletariat');

const worker = new Worker({ port: Number(process.argv[2]), slots: 1, logger: null });
worker.on('ready', () => process.stdout.write(`ready ${worker.id}\n`));
worker.on('work', (w) => process.stdout.write(`got ${w.id}\n`));
worker.start();
