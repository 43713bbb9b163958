// The PeerJS example's server: PeerJS's own PeerServer (the `peer` package, unchanged) plus the
// page, the peerjs client file and the ICE configuration, on one plain-HTTP port (the lab
// terminates TLS in front of it). The client is served from here: nothing is fetched from a CDN.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PeerServer } from 'peer';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`peerjs example: environment variable ${name} is not set`);
  return v;
};
const port = Number(process.env.PORT ?? 9000);
// The lab's ready-made RTCIceServer list (STUN and TURN with REST credentials), handed to the page as is.
const iceServers: unknown = JSON.parse(env('ICE_SERVERS'));

const client = createRequire(import.meta.url).resolve('peerjs').replace(/bundler\.cjs$/, 'peerjs.min.js');
const files: Record<string, { path: string | URL; type: string }> = {
  '/': { path: new URL('./public/index.html', import.meta.url), type: 'text/html' },
  '/app.js': { path: new URL('./public/app.js', import.meta.url), type: 'text/javascript' },
  '/peerjs.min.js': { path: client, type: 'text/javascript' },
};

const app = PeerServer({ port, path: '/peerjs', allow_discovery: true }, () => console.log(`PeerServer listening on :${port}, path /peerjs`));
app.on('connection', (c) => console.log(`peer ${c.getId()} connected`));
app.on('disconnect', (c) => console.log(`peer ${c.getId()} disconnected`));
app.get('/health', (_req, res) => void res.send('ok'));
app.get('/config', (_req, res) => void res.json({ iceServers }));
for (const [route, f] of Object.entries(files)) {
  app.get(route, (_req, res) => void res.type(f.type).send(readFileSync(f.path)));
}
