// A client: pushes two jobs, prints their results in order, and leaves.
const { Client } = require('proletariat');

const client = new Client({ host: '127.0.0.1', port: Number(process.env.PROLETARIAT_PORT) || 1917 });
client.work([{ name: 'Ivan' }, { name: 'Olga' }], { timeout: 5000 }, (err, results) => {
  for (const r of results) console.log(r.err ? `failed: ${r.err.code} ${r.err.message}` : r.data);
  client.close();
});
