'use strict';
// A program that runs a Manager, for the tests of what happens to its daemon when the
// program ends: `node manager-parent.js PORT PUBPORT [MODE]` (0: ports the kernel
// picks). Prints "listening <daemon pid> <parentWatch> <port> <pubPort>" once the
// manager listens. MODE:
//   wait     (default) run until killed
//   crash    throw an uncaught exception once listening
//   handler  own SIGTERM listener: prints "stopping", stops the manager, exits 0
const { Manager } = require('proletariat');

const [port, pubPort, mode = 'wait'] = process.argv.slice(2);
const manager = new Manager({ host: '127.0.0.1', port: Number(port), pubPort: Number(pubPort), logger: null });
if (mode === 'handler') {
  process.on('SIGTERM', () => {
    process.stdout.write('stopping\n');
    manager.stop().then(() => process.exit(0));
  });
}
manager.start().then(() => {
  process.stdout.write(`listening ${manager.process.pid} ${manager.parentWatch} ${manager.port} ${manager.pubPort}\n`);
  if (mode === 'crash') setImmediate(() => { throw new Error('a crash of the program'); });
}, (err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(3);
});
