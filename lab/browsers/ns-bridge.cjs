#!/usr/bin/env node
// Runs a WebDriver BiDi browser (Debian's Firefox) inside a network namespace for Playwright.
// Playwright reads "WebDriver BiDi listening on ws://127.0.0.1:PORT" from stderr and connects to
// that port, which is on the namespace's loopback. This bridge listens on the same port number in
// the root namespace (Firefox checks the Host header, so another port gets 400) and forwards each
// connection into the namespace. Plain CommonJS: it starts on every launch, tsx would cost time.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, writeFileSync } = require('node:fs');
const net = require('node:net');

const ns = process.env.ICELAB_NETNS;
const exe = process.env.ICELAB_EXECUTABLE;
const ca = process.env.ICELAB_CA_FILE;
const report = process.env.ICELAB_CA_REPORT;
const args = process.argv.slice(2);

/** Runs certutil; on failure writes what failed for the fleet (CertutilFailure) and ends before Firefox starts. */
function certutil(step, db, certArgs) {
  // certutil prompts on a terminal when something is off: never let it wait.
  const r = spawnSync('certutil', certArgs, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 10000 });
  if (r.status === 0) return;
  const failure = { step, db, code: r.status ?? (r.error && r.error.code === 'ENOENT' ? 127 : 1), stderr: r.stderr || String(r.error ?? '') };
  if (report) writeFileSync(report, JSON.stringify(failure));
  process.stderr.write(`icelab ns-bridge: certutil could not ${step} in ${db} (exit ${failure.code}): ${failure.stderr}\n`);
  process.exit(1);
}

// The lab CA must be in the profile before Firefox starts (turns: with the lab's certificate).
const profile = args[args.indexOf('--profile') + 1];
if (ca && profile && args.includes('--profile')) {
  if (!existsSync(`${profile}/cert9.db`)) certutil('create the NSS database', profile, ['-N', '-d', `sql:${profile}`, '--empty-password']);
  certutil(`import the lab CA ${ca}`, profile, ['-A', '-d', `sql:${profile}`, '-t', 'C,,', '-n', 'icelab-lab-ca', '-i', ca]);
}

const FORWARD = "const s=require('net').connect(+process.argv[1],'127.0.0.1');process.stdin.pipe(s).on('error',()=>{});s.pipe(process.stdout);s.on('error',()=>process.exit(1));s.on('close',()=>process.exit(0));";
/** Forwards one connection on the root namespace's port to the same port on the namespace's loopback. */
function forward(sock, port) {
  const fwd = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', FORWARD, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  sock.pipe(fwd.stdin).on('error', () => {});
  fwd.stdout.pipe(sock).on('error', () => {});
  sock.on('close', () => fwd.kill());
  fwd.on('exit', () => sock.destroy());
}

// The port is chosen here, free in the root namespace, and given to Firefox: its namespace's
// loopback has nothing else on it. (Firefox choosing one itself, port 0, could pick a port some
// other process holds in the root namespace: EADDRINUSE, and the launch failed.)
let port = 0;
const server = net.createServer((sock) => forward(sock, port));
server.on('error', (e) => {
  process.stderr.write(`icelab ns-bridge: cannot listen on 127.0.0.1 in the root namespace (${e.message})\n`);
  process.exit(1);
});
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  const argv = args.map((a) => (a === '--remote-debugging-port=0' ? `--remote-debugging-port=${port}` : a));
  start(argv);
});

function start(argv) {
  const browser = spawn('ip', ['netns', 'exec', ns, exe, ...argv], { stdio: ['ignore', 'inherit', 'pipe'] });
  let pending = '';
  browser.stderr.on('data', (chunk) => {
    pending += chunk.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl + 1);
      pending = pending.slice(nl + 1);
      const m = /WebDriver BiDi listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m && Number(m[1]) !== port) {
        process.stderr.write(`icelab ns-bridge: Firefox listens on ${m[1]}, not on the port it was given (${port})\n`);
        browser.kill('SIGKILL');
      }
      // Playwright connects as soon as it reads the line: the bridge already listens.
      process.stderr.write(line);
    }
  });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => browser.kill(sig));
  browser.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
