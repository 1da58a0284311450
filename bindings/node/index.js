'use strict';
// proletariat for Node.js: Client, Worker (and a Manager that runs the C++ daemon) of
// the proletariat job broker, speaking
// its wire protocol (docs/PROTOCOL.md, PRO1) over the `zeromq` package. The API is
// the original node-proletariat's; see README.md.

const { Client } = require('./lib/client');
const { Worker } = require('./lib/worker');
const { Manager } = require('./lib/manager');
const { codes, errorClass, ProletariatError } = require('./lib/errors');
const { PROTOCOL_VERSION } = require('./lib/codec');
// CURVE keys (PROTOCOL §13): the `curve` option of Client and Worker, and their files.
const {
  generateCurveKeyPair, readPublicKeyFile, readSecretKeyFile, readCurveOptions, writeKeyFiles, isZ85Key, publicKeyOf,
} = require('./lib/curve');

module.exports = {
  Client,
  Worker,
  Manager,
  codes,
  errorClass,
  ProletariatError,
  PROTOCOL_VERSION,
  generateCurveKeyPair,
  readPublicKeyFile,
  readSecretKeyFile,
  readCurveOptions,
  writeKeyFiles,
  isZ85Key,
  publicKeyOf,
};
