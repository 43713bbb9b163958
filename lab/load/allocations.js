// Background load for `icelab load --allocations M` (.js, not .mjs: the build copies .js files; the package is ESM): M TURN allocations over UDP, in pairs that
// relay to each other through channels (ChannelData both ways at `pps` packets/s of `bytes`).
// Messages are built and parsed by @msimerson/stun, the project's STUN codec. It runs as its own
// process inside a lab host (`ip netns exec`), so every packet stays in the lab.
//
//   node allocations.js '<json: { server: {host, port}, auth: {username, password}, allocations, pps, bytes, maxS }>'
//
// Prints one JSON line per second on stdout: { active, failed: {code: n}, sentPps, lossPct }.
// Ends on SIGTERM or stdin closing (deleting its allocations), and after maxS seconds in any case.
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';

const stun = createRequire(import.meta.url)('@msimerson/stun');
const C = stun.constants;
const UDP = 17 << 24; // REQUESTED-TRANSPORT: protocol number in the first byte.
const CHANNEL = 0x4000;
const REFRESH_S = 300; // well within the default 600 s lifetime
const CONCURRENT_PAIRS = 32;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const classOf = (type) => ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);

const input = JSON.parse(process.argv[2] ?? '{}');
const { server, auth } = input;
const stats = { active: 0, failed: {}, sent: 0, received: 0 };
const clients = [];
let stopping = false;

/** One allocation: its own socket (5-tuple), long-term credentials, requests retransmitted as RFC 8489 says. */
class Allocation {
  constructor() {
    this.sock = createSocket('udp4');
    this.pending = new Map();
    this.realm = null;
    this.nonce = null;
    this.sock.on('message', (b) => this.onPacket(b));
    this.sock.on('error', () => undefined);
  }
  open() {
    return new Promise((res, rej) => {
      this.sock.once('error', rej);
      this.sock.connect(server.port, server.host, res);
    });
  }
  onPacket(b) {
    if (b[0] >= 0x40 && b[0] <= 0x7f) {
      stats.received++;
      return;
    }
    try {
      const msg = stun.decode(b);
      this.pending.get(msg.transactionId.toString('hex'))?.(msg);
    } catch {
      // not ours to judge: a stray packet
    }
  }
  async request(type, build) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const msg = stun.createMessage(type);
      build?.(msg);
      if (this.realm && this.nonce) {
        msg.addUsername(auth.username);
        msg.addRealm(this.realm);
        msg.addNonce(this.nonce);
        msg.addMessageIntegrity(createHash('md5').update(`${auth.username}:${this.realm}:${auth.password}`).digest());
      }
      msg.addFingerprint();
      const res = await this.transact(msg);
      if (!res) return -1;
      const code = classOf(res.type) === 0b11 ? (res.getError()?.code ?? 0) : 0;
      if (res.getNonce()) this.nonce = res.getNonce();
      if (res.getRealm()) this.realm = res.getRealm();
      if ((code === 401 || code === 438) && attempt === 0) continue;
      return code === 0 ? res : code;
    }
    return 401;
  }
  async transact(msg) {
    const id = msg.transactionId.toString('hex');
    const buf = msg.toBuffer();
    const answered = new Promise((res) => this.pending.set(id, res));
    let res = null;
    for (let rto = 250; !res && rto <= 2000; rto *= 2) {
      this.sock.send(buf);
      res = await Promise.race([answered, sleep(rto).then(() => null)]);
    }
    this.pending.delete(id);
    return res;
  }
  async allocate() {
    const r = await this.request(C.STUN_ALLOCATE_REQUEST, (m) => m.addAttribute(C.STUN_ATTR_REQUESTED_TRANSPORT, UDP));
    if (typeof r === 'number') return r;
    this.relayed = r.getAttribute(C.STUN_ATTR_XOR_RELAYED_ADDRESS).value;
    return 0;
  }
  bind(peer) {
    return this.request(C.STUN_CHANNEL_BIND_REQUEST, (m) => {
      m.addAttribute(C.STUN_ATTR_CHANNEL_NUMBER, CHANNEL << 16);
      m.addAttribute(C.STUN_ATTR_XOR_PEER_ADDRESS, peer.address, peer.port);
    });
  }
  refresh(lifetime) {
    return this.request(C.STUN_REFRESH_REQUEST, (m) => m.addAttribute(C.STUN_ATTR_LIFETIME, lifetime));
  }
  sendData(payload) {
    this.sock.send(payload);
    stats.sent++;
  }
  close() {
    this.sock.close();
  }
}

const fail = (code) => (stats.failed[code] = (stats.failed[code] ?? 0) + 1);

/** Two allocations, each with a channel to the other's relayed address (ChannelBind also installs the permission). */
async function pair() {
  const a = new Allocation();
  const b = new Allocation();
  clients.push(a, b);
  await Promise.all([a.open(), b.open()]);
  const codes = await Promise.all([a.allocate(), b.allocate()]);
  for (const c of codes) c ? fail(c === -1 ? 'timeout' : String(c)) : stats.active++;
  if (codes.some(Boolean)) return null;
  const binds = await Promise.all([a.bind(b.relayed), b.bind(a.relayed)]);
  if (binds.some((x) => typeof x === 'number')) {
    fail('channel-bind');
    return null;
  }
  return [a, b];
}

const frame = Buffer.alloc(4 + input.bytes);
frame.writeUInt16BE(CHANNEL, 0);
frame.writeUInt16BE(input.bytes, 2);

const t0 = Date.now();
const deadline = t0 + input.maxS * 1000;
const pairs = [];
const stop = () => (stopping = true);
process.on('SIGTERM', stop);
process.stdin.on('close', stop);
process.stdin.resume();

// Allocate in batches; traffic starts for each pair as soon as it has its channels.
const allocating = (async () => {
  for (let i = 0; i < input.allocations / 2 && !stopping && Date.now() < deadline; i += CONCURRENT_PAIRS) {
    const n = Math.min(CONCURRENT_PAIRS, input.allocations / 2 - i);
    const made = await Promise.all(Array.from({ length: n }, () => pair().catch(() => (fail('error'), null))));
    pairs.push(...made.filter(Boolean));
  }
})();

let last = { sent: 0, received: 0, at: t0 };
let lastRefresh = t0;
const interval = 1000 / Math.max(1, input.pps);
for (let tick = 0; !stopping && Date.now() < deadline; tick++) {
  await sleep(interval);
  for (const [a, b] of pairs) {
    a.sendData(frame);
    b.sendData(frame);
  }
  if (Date.now() - lastRefresh > REFRESH_S * 1000) {
    lastRefresh = Date.now();
    for (const c of pairs.flat()) void c.refresh(600);
  }
  if (Date.now() - last.at >= 1000) {
    const dt = (Date.now() - last.at) / 1000;
    const sent = stats.sent - last.sent;
    const received = stats.received - last.received;
    process.stdout.write(`${JSON.stringify({ active: stats.active, failed: stats.failed, sentPps: Math.round(sent / dt), lossPct: sent > 0 ? Math.max(0, Math.round((1 - received / sent) * 10000) / 100) : null })}\n`);
    last = { sent: stats.sent, received: stats.received, at: Date.now() };
  }
}
await Promise.race([allocating, sleep(1000)]);
// Delete the allocations (Refresh with LIFETIME 0), for a second at most, so the server is free at once.
await Promise.race([Promise.all(pairs.flat().map((c) => c.refresh(0))), sleep(1000)]);
for (const c of clients) c.close();
process.exit(0);
