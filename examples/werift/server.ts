// A server-side WebRTC peer on werift: it answers a browser's offer (POST /offer, the complete SDP)
// and sends the browser's own video back. Deployed on a host behind a static 1:1 NAT (a cloud
// elastic IP), it sees only its private address: unless it is told the public one
// (ANNOUNCED_ADDRESS, as media servers call it), that private address is all it advertises.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { RTCPeerConnection, type RTCIceServer } from 'werift';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`werift example: environment variable ${name} is not set`);
  return v;
};
const port = Number(process.env.PORT ?? 8080);
const announced = process.env.ANNOUNCED_ADDRESS || undefined;
// The lab's ready-made RTCIceServer list goes to the page as is.
const iceServers = JSON.parse(env('ICE_SERVERS')) as RTCIceServer[];
/**
 * The bot, like most media servers, asks no STUN server what its public address is (that would
 * give it a server-reflexive candidate with the public address, and hide the failure this example
 * shows); it relays through the TURN server over UDP (werift allocates on one TURN server).
 */
const turnUdp = (u: string) => /^turn:[^?]+(\?transport=udp)?$/.test(u);
const botIce = iceServers.flatMap((s) => {
  const url = [s.urls].flat().find(turnUdp);
  return url ? [{ ...s, urls: url }] : [];
}).slice(0, 1);

async function answer(offer: { type: 'offer'; sdp: string }): Promise<{ type: string; sdp: string }> {
  const pc = new RTCPeerConnection({ iceServers: botIce, ...(announced ? { iceAdditionalHostAddresses: [announced] } : {}) });
  pc.connectionStateChange.subscribe((s) => console.log(`peer connection ${s}`));
  // A transceiver the offer creates only receives: send what arrives straight back on it.
  pc.onRemoteTransceiverAdded.subscribe((t) => {
    t.direction = 'sendrecv';
    t.onTrack.subscribe((track) => void t.sender.replaceTrack(track));
  });
  pc.onDataChannel.subscribe((dc) => dc.onMessage.subscribe((m) => dc.send(m)));
  await pc.setRemoteDescription(offer);
  const gathered = new Promise<void>((done) => pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && done()));
  await pc.setLocalDescription(await pc.createAnswer());
  if (pc.iceGatheringState !== 'complete') await gathered;
  const sdp = pc.localDescription!.sdp;
  console.log(`answer candidates: ${sdp.split('\r\n').filter((l) => l.startsWith('a=candidate')).join(' | ')}`);
  return { type: 'answer', sdp };
}

const body = (req: IncomingMessage): Promise<string> =>
  new Promise((done, fail) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => done(s));
    req.on('error', fail);
  });

async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/health') return void res.end('ok');
  if (path === '/config') return void res.setHeader('content-type', 'application/json').end(JSON.stringify({ iceServers }));
  if (path === '/offer' && req.method === 'POST') {
    const a = await answer(JSON.parse(await body(req)) as { type: 'offer'; sdp: string });
    return void res.setHeader('content-type', 'application/json').end(JSON.stringify(a));
  }
  const file = { '/': 'index.html', '/bot.js': 'bot.js' }[path];
  if (!file) return void res.writeHead(404).end('not found');
  res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'text/html');
  res.end(readFileSync(new URL(`./public/${file}`, import.meta.url)));
}

createServer((req, res) => serve(req, res).catch((e: Error) => {
  console.error(e);
  res.writeHead(500).end(e.message);
})).listen(port, () => console.log(`werift bot listening on :${port}${announced ? `, announcing ${announced}` : ', announcing no public address'}`));
