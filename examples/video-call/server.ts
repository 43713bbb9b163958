// The video-call app's server: its page, its ICE configuration and WebSocket signaling, in one
// plain-HTTP process (the lab terminates TLS in front of it, as a load balancer would).
// Nothing here knows about icelab: it reads the addresses and the TURN secret from its environment,
// as it would in production.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

interface AppConfig {
  port: number;
  /** The STUN and TURN URLs (comma-separated in TURN_URLS) and the secret the TURN server shares with app servers. */
  stunUrls: string[];
  turnUrls: string[];
  turnSecret: string;
}

function config(env: NodeJS.ProcessEnv): AppConfig {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`video-call: environment variable ${name} is not set`);
    return v;
  };
  const urls = need('TURN_URLS').split(',');
  return {
    port: Number(env.PORT ?? 8080),
    stunUrls: urls.filter((u) => u.startsWith('stun:')),
    turnUrls: urls.filter((u) => !u.startsWith('stun:')),
    turnSecret: need('TURN_SECRET'),
  };
}

const PUBLIC = new URL('./public/', import.meta.url);
const FILES: Record<string, string> = { '/': 'index.html', '/call.js': 'call.js' };
const TYPES: Record<string, string> = { html: 'text/html', js: 'text/javascript' };

/** TURN REST API credentials (the scheme coturn's use-auth-secret checks), valid for an hour. */
function iceServers(c: AppConfig): RTCIceServer[] {
  const username = `${Math.floor(Date.now() / 1000) + 3600}:video-call`;
  const credential = createHmac('sha1', c.turnSecret).update(username).digest('base64');
  return [...(c.stunUrls.length ? [{ urls: c.stunUrls }] : []), { urls: c.turnUrls, username, credential }];
}

function serve(c: AppConfig, req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/health') return void res.end('ok');
  if (path === '/config') {
    res.setHeader('content-type', 'application/json');
    return void res.end(JSON.stringify({ iceServers: iceServers(c) }));
  }
  const file = FILES[path];
  if (!file) return void res.writeHead(404).end('not found');
  res.setHeader('content-type', TYPES[file.split('.').pop()!]!);
  res.end(readFileSync(new URL(file, PUBLIC)));
}

/** Two members per room; every message goes to the other one. The first member offers when the second joins. */
function signaling(wss: WebSocketServer): void {
  const rooms = new Map<string, Set<WebSocket>>();
  wss.on('connection', (ws, req) => {
    const room = new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
    const members = rooms.get(room) ?? new Set<WebSocket>();
    if (!room || members.size >= 2) return ws.close(4000, room ? 'room full' : 'no room');
    rooms.set(room, members.add(ws));
    console.log(`room ${room}: ${members.size} member(s)`);
    const others = () => [...members].filter((m) => m !== ws);
    for (const o of others()) o.send(JSON.stringify({ type: 'peer-joined' }));
    ws.on('message', (data) => {
      for (const o of others()) o.send(data.toString());
    });
    ws.on('close', () => {
      members.delete(ws);
      if (members.size === 0) rooms.delete(room);
      for (const o of others()) o.send(JSON.stringify({ type: 'peer-left' }));
      console.log(`room ${room}: ${members.size} member(s)`);
    });
  });
}

const c = config(process.env);
const server = createServer((req, res) => serve(c, req, res));
signaling(new WebSocketServer({ server, path: '/ws' }));
server.listen(c.port, () => console.log(`video-call listening on :${c.port}`));
