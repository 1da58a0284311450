// The job lifecycle in one program: a worker that reports progress and is busy at
// first; a client that delays and retries its jobs, runs one job of its tenant at a
// time, and looks at the job that never got through in the dead letters.
const { Client, Worker } = require('proletariat');

const port = Number(process.env.PROLETARIAT_PORT) || 1917;

const worker = new Worker({ port, slots: 4 });
const tries = new Map(); // job id -> attempts seen
worker.on('work', (w, handler) => {
  const n = (tries.get(w.id) || 0) + 1;
  tries.set(w.id, n);
  w.progress({ image: w.args.image, try: n });
  if (w.args.image === 'broken.png' || n < 2) return handler({ code: 'EBUSY', message: 'busy, try again' });
  return handler(null, `${w.args.image} resized`);
});
worker.start();

const client = new Client({ port });

async function main() {
  await client.setGroupLimits('tenant-7', { maxRunning: 1 }); // one job of tenant-7 at a time
  const options = {
    delay: 100, // queue in 100 ms
    group: 'tenant-7',
    retry: { max: 2, codes: ['EBUSY'], initial: 50 }, // two retries, about 50 then 100 ms later
  };
  await new Promise((resolve) => client.workIndividual([{ image: 'a.png' }, { image: 'broken.png' }], options,
    (err, data, work) => console.log(err ? `${work.args.image}: ${err.code} after ${work.attempts} attempts`
      : `${data} after ${work.attempts} attempts`),
    resolve,
    (work, progress) => console.log(`${progress.image}: try ${progress.try}`)));
  const { letters } = await client.listDeadLetters();
  for (const letter of letters) console.log(`dead letter ${letter.id}: job ${letter.job}, ${letter.err.code}, ${letter.attempts} attempts`);
  await client.purgeDeadLetters('all');
  await client.close();
  await worker.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
