#!/usr/bin/env node
'use strict';
// The supplied manager, as in the original: `node bin/manager.js [port]`.
// Options come from the environment with their original names, e.g.
// SACRED_GUARANTEES=1 HOLDSIMILARWORK=1 AVAIL_THRESHOLD=20 node bin/manager.js 1917
const { Manager } = require('../lib/manager');

const opts = { port: process.argv[2] ? Number(process.argv[2]) : undefined };
for (const name of ['AVAIL_THRESHOLD', 'CLEANUP_REQS', 'CLEANUP_CHECKINT', 'DISTRIB_RANDMAX']) {
  if (process.env[name] != null) opts[name] = Number(process.env[name]);
}
const isSet = (name) => process.env[name] && process.env[name] !== '0' && process.env[name] !== 'false';
for (const name of ['SACRED_GUARANTEES', 'HOLDSIMILARWORK', 'DEBUG']) {
  if (isSet(name)) opts[name] = true;
}
// CURVE (PROTOCOL §13): CURVE_SECRET_KEY=manager.key CURVE_KEYS=keys/ node bin/manager.js
if (process.env.CURVE_SECRET_KEY) opts.curveSecretKey = process.env.CURVE_SECRET_KEY;
if (process.env.CURVE_KEYS) opts.curveKeys = process.env.CURVE_KEYS;
if (isSet('ALLOW_INSECURE_REMOTE')) opts.allowInsecureRemote = true;
const manager = new Manager(opts);
manager.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
manager.start().then(() => console.log(`manager listening on ${manager.endpoint}` +
  `${manager.publicKey ? ` with CURVE, public key ${manager.publicKey}` : ''}`), () => {});
const stop = () => manager.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// SIGHUP reloads the allow-lists, as it does for proletariatd itself.
process.on('SIGHUP', () => manager.reloadKeys());
