#!/usr/bin/env node
// Relays TCP connections for a lab service, one end given per argument as JSON:
//   {"listen":{"tcp":443,"cert":"…","key":"…"}|{"tcp":5173}|{"unix":"…"},"connect":{"host":"…","port":8080}|{"unix":"…"}}
// - TLS in front of a plain-HTTP service (in the service's namespace: tls → tcp);
// - a forward of a loopback server into the lab: tcp → unix socket in the service's namespace,
//   unix socket → 127.0.0.1:<port> in the machine's own. The socket lies in the lab's temp dir, so
//   the lab's namespaces get no route to anything but that one port.
// Plain CommonJS, no dependencies: it starts per service, tsx would cost time. Prints "listening"
// once it accepts connections (the lab waits for that line in its log).
'use strict';
const net = require('node:net');
const tls = require('node:tls');
const { readFileSync, rmSync } = require('node:fs');

const { listen, connect } = JSON.parse(process.argv[2]);

function relay(client) {
  const upstream = connect.unix ? net.connect(connect.unix) : net.connect(connect.port, connect.host);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', (e) => {
    process.stderr.write(`icelab relay: ${connect.unix ?? `${connect.host}:${connect.port}`}: ${e.message}\n`);
    close();
  });
  client.pipe(upstream);
  upstream.pipe(client);
}

const server = listen.cert
  ? tls.createServer({ cert: readFileSync(listen.cert), key: readFileSync(listen.key), ALPNProtocols: ['http/1.1'] }, relay)
  : net.createServer(relay);
server.on('tlsClientError', (e) => process.stderr.write(`icelab relay: TLS: ${e.message}\n`));
server.on('error', (e) => {
  process.stderr.write(`icelab relay: cannot listen on ${listen.unix ?? `port ${listen.tcp}`}: ${e.message}\n`);
  process.exit(1);
});
if (listen.unix) rmSync(listen.unix, { force: true });
const ready = () => process.stdout.write('listening\n');
if (listen.unix) server.listen(listen.unix, ready);
else server.listen(listen.tcp, '0.0.0.0', ready);
