'use strict';
// CURVE keys (PROTOCOL §13): how peers and a manager that runs CURVE authenticate
// each other. The same helpers as libproletariat's curve.hpp, with the same files:
//
// - keys are libzmq's CURVE keys in Z85 text, 40 characters;
// - a public key file holds the key on its first line that is not a `#` comment;
// - a secret key file holds the lines `public = <z85>` and `secret = <z85>` (what
//   `proletariat-ctl keygen NAME` and writeKeyFiles() write, as NAME.key, mode 0600,
//   next to NAME.pub).
//
// The `curve` option of Client and Worker is checked by curveOption() at
// construction: a malformed key is a TypeError there, never a handshake that fails
// in silence later.

const crypto = require('node:crypto');
const fs = require('node:fs');
const zmq = require('zeromq');
const { codes, ProletariatError } = require('./errors');

// The Z85 alphabet (ZeroMQ RFC 32); a key is 8 groups of 5 characters, 4 bytes each.
const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_VALUE = new Map([...Z85].map((c, i) => [c, i]));
const KEY_CHARS = 40;
const KEY_BYTES = 32;
// An X25519 private key as PKCS#8 DER is this prefix and the 32 raw bytes.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// The 32 bytes of a Z85 key, or null when `text` is not one (not a string, not 40
// characters of the alphabet, or a group above 2^32 - 1, which libzmq refuses too).
function decodeKey(text) {
  if (typeof text !== 'string' || text.length !== KEY_CHARS) return null;
  const bytes = Buffer.alloc(KEY_BYTES);
  for (let group = 0; group < KEY_CHARS / 5; ++group) {
    let value = 0;
    for (let k = 0; k < 5; ++k) {
      const digit = Z85_VALUE.get(text[group * 5 + k]);
      if (digit === undefined) return null;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return null;
    bytes.writeUInt32BE(value, group * 4);
  }
  return bytes;
}

function encodeKey(bytes) {
  let text = '';
  for (let offset = 0; offset < bytes.length; offset += 4) {
    let value = bytes.readUInt32BE(offset);
    let group = '';
    for (let k = 0; k < 5; ++k) {
      group = Z85[value % 85] + group;
      value = Math.floor(value / 85);
    }
    text += group;
  }
  return text;
}

// True for 40 characters of the Z85 alphabet that decode to 32 bytes.
function isZ85Key(text) {
  return decodeKey(text) !== null;
}

// The public key (Z85) that belongs to a secret key (Z85): CURVE keys are X25519 keys.
function publicKeyOf(secretKey) {
  const secret = decodeKey(secretKey);
  if (!secret) throw new TypeError('publicKeyOf: the secret key is not a 40-character Z85 CURVE key');
  const key = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  return encodeKey(crypto.createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-KEY_BYTES));
}

// A fresh key pair {publicKey, secretKey} (libzmq's zmq_curve_keypair).
function generateCurveKeyPair() {
  return zmq.curveKeyPair();
}

function badFile(path, what) {
  return new ProletariatError(codes.EBADFIELD, `key file ${path}: ${what}`);
}

// The lines of a key file that are neither empty nor `#` comments, trimmed. Errors
// reading it (ENOENT, EACCES) are Node's own, with their codes.
function keyLines(path) {
  return fs.readFileSync(path, 'utf8').split(/\r?\n/).map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

// The public key (Z85) of a public key file. Throws a ProletariatError with code
// EBADFIELD naming the file when it holds no key or something else.
function readPublicKeyFile(path) {
  const [first] = keyLines(path);
  if (first === undefined) throw badFile(path, 'holds no key');
  if (!isZ85Key(first)) throw badFile(path, 'its first line is not a Z85 CURVE public key (40 characters)');
  return first;
}

// {publicKey, secretKey} of a secret key file (`public = <z85>`, `secret = <z85>`).
// Throws EBADFIELD (a ProletariatError) naming the file when a line is missing or
// malformed, or when the public key is not the secret key's.
function readSecretKeyFile(path) {
  const keys = {};
  for (const line of keyLines(path)) {
    const eq = line.indexOf('=');
    if (eq < 0) throw badFile(path, "expected 'public = <z85>' and 'secret = <z85>' lines");
    const name = line.slice(0, eq).trim();
    if (name === 'public') keys.publicKey = line.slice(eq + 1).trim();
    if (name === 'secret') keys.secretKey = line.slice(eq + 1).trim();
  }
  if (!isZ85Key(keys.publicKey) || !isZ85Key(keys.secretKey)) {
    throw badFile(path, "needs a 'public = <z85>' and a 'secret = <z85>' line, each a 40-character Z85 key");
  }
  if (publicKeyOf(keys.secretKey) !== keys.publicKey) {
    throw badFile(path, 'its public key is not the one of its secret key');
  }
  return { publicKey: keys.publicKey, secretKey: keys.secretKey };
}

// Writes NAME.pub and NAME.key (mode 0600) for `keys` ({publicKey, secretKey}), as
// `proletariat-ctl keygen NAME` does; refuses (EEXIST) to overwrite either file.
function writeKeyFiles(pathWithoutExtension, keys) {
  const { publicKey, secretKey } = keys || {};
  if (!isZ85Key(publicKey) || !isZ85Key(secretKey)) {
    throw new TypeError('writeKeyFiles: keys must be {publicKey, secretKey}, each a 40-character Z85 CURVE key');
  }
  const pub = `${pathWithoutExtension}.pub`;
  const key = `${pathWithoutExtension}.key`;
  for (const file of [pub, key]) {
    if (fs.existsSync(file)) {
      throw Object.assign(new Error(`${file} exists already: not overwritten`), { code: 'EEXIST', path: file });
    }
  }
  fs.writeFileSync(key, `# proletariat CURVE secret key: keep it private\npublic = ${publicKey}\nsecret = ${secretKey}\n`,
    { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(pub, `${publicKey}\n`, { flag: 'wx' });
  return { publicFile: pub, secretFile: key };
}

// The `curve` option of a Client or Worker from the manager's public key file and
// this peer's secret key file: {serverKey, publicKey, secretKey}.
function readCurveOptions(serverPublicKeyFile, secretKeyFile) {
  const { publicKey, secretKey } = readSecretKeyFile(secretKeyFile);
  return { serverKey: readPublicKeyFile(serverPublicKeyFile), publicKey, secretKey };
}

// Checks the `curve` option: absent (null, undefined, false) means plain TCP, else
// {serverKey, publicKey?, secretKey}, Z85 keys; publicKey, when left out, is derived
// from secretKey, and when given must be secretKey's. Returns {serverKey, publicKey,
// secretKey} or null; throws a TypeError naming what is wrong (never a secret key).
function curveOption(value) {
  if (value == null || value === false) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('curve must be {serverKey, publicKey, secretKey} (Z85 CURVE keys), or absent for plain TCP');
  }
  if (!zmq.capability.curve) throw new TypeError('curve: this build of the zeromq package has no CURVE support');
  const known = new Set(['serverKey', 'publicKey', 'secretKey']);
  for (const name of Object.keys(value)) {
    if (!known.has(name)) throw new TypeError(`curve: unknown field '${name}' (it takes serverKey, publicKey, secretKey)`);
  }
  const check = (name) => {
    const key = value[name];
    if (!isZ85Key(key)) {
      let what = key == null ? 'missing' : `a ${typeof key}`;
      if (typeof key === 'string') what = key.length === KEY_CHARS ? '40 characters that are not Z85' : `${key.length} characters`;
      throw new TypeError(`curve.${name} must be a CURVE key in Z85 text (40 characters), not ${what}`);
    }
    return key;
  };
  const serverKey = check('serverKey');
  const secretKey = check('secretKey');
  const derived = publicKeyOf(secretKey);
  if (value.publicKey != null && check('publicKey') !== derived) {
    throw new TypeError('curve.publicKey is not the public key of curve.secretKey');
  }
  if (secretKey === serverKey || derived === serverKey) {
    throw new TypeError("curve.serverKey must be the manager's public key, not this peer's own key");
  }
  return Object.freeze({ serverKey, publicKey: derived, secretKey });
}

// The zeromq socket options of a CURVE client for `curve` (from curveOption), or {}.
function socketOptions(curve) {
  if (!curve) return {};
  return { curveServerKey: curve.serverKey, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey };
}

module.exports = {
  isZ85Key,
  publicKeyOf,
  generateCurveKeyPair,
  readPublicKeyFile,
  readSecretKeyFile,
  writeKeyFiles,
  readCurveOptions,
  curveOption,
  socketOptions,
  decodeKey,
  encodeKey,
};
