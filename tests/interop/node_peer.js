'use strict';
// A Node.js peer (neither worker nor client) for the system-message tests.
//
//   node node_peer.js ENDPOINT listen
//       prints "ready <peer id>", then "sysmsg <from> <content as JSON>" per message,
//       until SIGTERM.
//   node node_peer.js ENDPOINT send CONTENT_JSON [TO]
//       prints "ready <peer id>", sends CONTENT_JSON to TO (everybody when absent),
//       prints "sysdone <sentTo> <receivedBy>" (or "syserror <code> <message>") and exits.
const path = require('node:path');
const { Client } = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const [endpoint, mode, content, to] = process.argv.slice(2);
const print = (line) => process.stdout.write(`${line}\n`);

const peer = new Client({ endpoint, name: `interop-node-${mode}`, CON_RETRYTIME: 50 });
peer.on('sysmsg', (msg, from) => print(`sysmsg ${from} ${JSON.stringify(msg)}`));
peer.once('connect', (err, id) => { // (err, id), as the original's connect(err) with the id after it
  if (err) {
    print(`connect-error ${err.code} ${err.message}`);
    process.exit(1);
  }
  print(`ready ${id}`);
  if (mode !== 'send') return;
  peer.systemMessage(JSON.parse(content), { to: to || null, timeout: 5000 }, (err, receipt) => {
    if (err) print(`syserror ${err.code} ${err.message}`);
    else print(`sysdone ${receipt.sentTo} ${receipt.receivedBy}`);
    peer.close().finally(() => process.exit(err ? 1 : 0));
  });
});

process.on('SIGTERM', () => peer.close().finally(() => process.exit(0)));
