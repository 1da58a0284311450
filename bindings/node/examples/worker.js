// A worker: runs up to 10 jobs at once and greets whoever a job names. Ctrl-C stops it.
const { Worker } = require('proletariat');

const worker = new Worker({ slots: 10, host: '127.0.0.1', port: Number(process.env.PROLETARIAT_PORT) || 1917 });
worker.on('work', (w, handler) => {
  setTimeout(() => handler(null, `Greetings, comrade ${w.args.name}!`), 100);
});
worker.start();
process.on('SIGINT', () => worker.stop().then(() => process.exit(0)));
