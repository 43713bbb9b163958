// A small TURN client (RFC 8656) for the cases turnutils_uclient cannot express or does not
// report: it prints no STUN error codes, cannot choose a LIFETIME, a nonce or a peer without
// sending data to it. Messages are built and parsed by @msimerson/stun (a maintained STUN codec
// with the TURN methods and attributes); this file only holds the client's state machine.
// It runs as its own process so it can be started inside a lab host (`ip netns exec`).
//
//   node turn-probe.mjs '<json: { server, auth, case, params }>'  → one JSON line on stdout
//
// server: { host, port, transport: udp|tcp|tls, ca?, servername? }; auth: { username, password } | null.
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const stun = createRequire(import.meta.url)('@msimerson/stun');
const C = stun.constants;
const UDP = 17 << 24; // REQUESTED-TRANSPORT: protocol number in the first byte, RFFU after it.

const transcript = [];
const log = (who, line) => transcript.push(`${((performance.now() - t0) / 1000).toFixed(3)} ${who}: ${line}`);
const t0 = performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const METHOD = { 0x003: 'Allocate', 0x004: 'Refresh', 0x006: 'Send', 0x007: 'Data', 0x008: 'CreatePermission', 0x009: 'ChannelBind' };
const methodOf = (type) => (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
const classOf = (type) => ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);

/** One client transport (a 5-tuple) with long-term credentials, as RFC 8489 §9.2 describes. */
class TurnClient {
  constructor(name, server, auth) {
    this.name = name;
    this.server = server;
    this.auth = auth;
    this.realm = null;
    this.nonce = null;
    this.pending = new Map();
    this.received = [];
    this.waiters = [];
    this.buffer = Buffer.alloc(0);
  }

  async open() {
    const { host, port, transport } = this.server;
    if (transport === 'udp') {
      this.udp = createSocket('udp4');
      this.udp.on('message', (b) => this.#onPacket(b));
      await new Promise((res, rej) => {
        this.udp.once('error', rej);
        this.udp.connect(port, host, res);
      });
      this.udp.on('error', (e) => log(this.name, `socket error ${e.message}`));
      return;
    }
    const sock =
      transport === 'tls'
        ? tlsConnect({ host, port, servername: this.server.servername, ...(this.server.ca ? { ca: readFileSync(this.server.ca) } : {}) })
        : tcpConnect({ host, port });
    await new Promise((res, rej) => {
      sock.once('error', rej);
      sock.once(transport === 'tls' ? 'secureConnect' : 'connect', res);
    });
    sock.on('error', (e) => log(this.name, `socket error ${e.message}`));
    sock.on('data', (d) => this.#onStream(d));
    this.stream = sock;
    if (transport === 'tls') log(this.name, `TLS ${sock.getProtocol()} with ${host}:${port}, certificate verified`);
  }

  close() {
    this.udp?.close();
    this.stream?.destroy();
  }

  // Over TCP/TLS messages are framed by their own length fields (RFC 8656 §12.5: ChannelData padded to 4).
  #onStream(data) {
    this.buffer = Buffer.concat([this.buffer, data]);
    for (;;) {
      if (this.buffer.length < 4) return;
      const channel = this.buffer[0] >= 0x40 && this.buffer[0] <= 0x7f;
      const len = channel ? 4 + ((this.buffer.readUInt16BE(2) + 3) & ~3) : 20 + this.buffer.readUInt16BE(2);
      if (this.buffer.length < len) return;
      this.#onPacket(this.buffer.subarray(0, len));
      this.buffer = this.buffer.subarray(len);
    }
  }

  #onPacket(b) {
    if (b[0] >= 0x40 && b[0] <= 0x7f) {
      // ChannelData is not a STUN message: the codec has no type for it, so its 4-byte header is read here.
      const channel = b.readUInt16BE(0);
      const data = b.subarray(4, 4 + b.readUInt16BE(2));
      log(this.name, `← ChannelData 0x${channel.toString(16)} "${data}"`);
      this.#deliver({ kind: 'channel', channel, data: data.toString() });
      return;
    }
    let msg;
    try {
      msg = stun.decode(b);
    } catch (e) {
      log(this.name, `← undecodable packet (${b.length} bytes): ${e.message}`);
      return;
    }
    if (msg.type === C.STUN_DATA_INDICATION) {
      const peer = msg.getAttribute(C.STUN_ATTR_XOR_PEER_ADDRESS)?.value;
      const data = msg.getAttribute(C.STUN_ATTR_DATA)?.value?.toString() ?? '';
      log(this.name, `← Data indication from ${peer?.address}:${peer?.port} "${data}"`);
      this.#deliver({ kind: 'data', peer: `${peer?.address}:${peer?.port}`, data });
      return;
    }
    const id = msg.transactionId.toString('hex');
    this.pending.get(id)?.(msg);
  }

  #deliver(item) {
    this.received.push(item);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until a packet with `data` arrived (true) or `ms` passed (false). */
  async waitFor(data, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const hit = this.received.find((r) => r.data === data);
      if (hit) return hit;
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(end - Date.now())]);
    }
    return this.received.find((r) => r.data === data) ?? null;
  }

  #send(buf) {
    if (this.udp) this.udp.send(buf);
    else this.stream.write(buf);
  }

  key(auth = this.auth) {
    return createHash('md5').update(`${auth.username}:${this.realm}:${auth.password}`).digest();
  }

  /**
   * Sends a request and returns { code, reason, msg } (code 0 = success). With `retryAuth`, a 401
   * (first contact) or 438 (stale nonce) is answered once with the server's realm and nonce, as a
   * real client does. `nonce` and `auth` override the session's for one request.
   */
  async request(type, build, { retryAuth = true, nonce, auth = this.auth, signed = true } = {}) {
    for (let attempt = 0; ; attempt++) {
      const msg = stun.createMessage(type);
      build?.(msg);
      const useNonce = nonce ?? this.nonce;
      const sign = signed && auth && this.realm && useNonce;
      if (sign) {
        msg.addUsername(auth.username);
        msg.addRealm(this.realm);
        msg.addNonce(useNonce);
        msg.addMessageIntegrity(this.key(auth));
      }
      msg.addFingerprint();
      const res = await this.#transact(msg, `${METHOD[methodOf(type)]}${sign ? ` as ${auth.username}` : ' (no credentials)'}${nonce ? ` with nonce "${nonce}"` : ''}`);
      if (!res) return { code: -1, reason: 'no response (timeout)' };
      const err = res.getError();
      const code = classOf(res.type) === 0b11 ? (err?.code ?? 0) : 0;
      if (res.getNonce()) this.nonce = res.getNonce();
      if (res.getRealm()) this.realm = res.getRealm();
      const retry = retryAuth && auth && attempt === 0 && (code === 401 ? !sign : code === 438);
      if (!retry) return { code, reason: err?.reason ?? '', msg: res };
      nonce = undefined;
    }
  }

  /** UDP: RFC 8489 retransmissions (RTO 250 ms here, the lab is local), 4 s at most; TCP: one send. */
  async #transact(msg, what) {
    const id = msg.transactionId.toString('hex');
    const buf = msg.toBuffer();
    log(this.name, `→ ${what}`);
    const answered = new Promise((res) => this.pending.set(id, res));
    const deadline = Date.now() + 4000;
    let rto = 250;
    let res = null;
    while (!res && Date.now() < deadline) {
      this.#send(buf);
      res = await Promise.race([answered, sleep(this.udp ? Math.min(rto, deadline - Date.now()) : deadline - Date.now()).then(() => null)]);
      rto *= 2;
    }
    this.pending.delete(id);
    if (!res) {
      log(this.name, `  no response`);
      return null;
    }
    const err = res.getError();
    const lifetime = res.getAttribute(C.STUN_ATTR_LIFETIME)?.value;
    const relayed = res.getAttribute(C.STUN_ATTR_XOR_RELAYED_ADDRESS)?.value;
    log(
      this.name,
      `← ${err ? `${err.code} ${err.reason}` : 'success'}${relayed ? ` relayed ${relayed.address}:${relayed.port}` : ''}${lifetime !== undefined ? ` lifetime ${lifetime}` : ''}${res.getNonce() && err ? ` nonce "${res.getNonce()}"` : ''}`,
    );
    return res;
  }

  async allocate(lifetime) {
    const r = await this.request(C.STUN_ALLOCATE_REQUEST, (m) => {
      m.addAttribute(C.STUN_ATTR_REQUESTED_TRANSPORT, UDP);
      if (lifetime !== undefined) m.addAttribute(C.STUN_ATTR_LIFETIME, lifetime);
    });
    if (r.code === 0) {
      const a = r.msg.getAttribute(C.STUN_ATTR_XOR_RELAYED_ADDRESS).value;
      this.relayed = { address: a.address, port: a.port };
      this.lifetime = r.msg.getAttribute(C.STUN_ATTR_LIFETIME)?.value;
    }
    return r;
  }
  refresh(lifetime, opts) {
    return this.request(C.STUN_REFRESH_REQUEST, (m) => lifetime !== undefined && m.addAttribute(C.STUN_ATTR_LIFETIME, lifetime), opts);
  }
  permit(address) {
    return this.request(C.STUN_CREATE_PERMISSION_REQUEST, (m) => m.addAttribute(C.STUN_ATTR_XOR_PEER_ADDRESS, address, 0));
  }
  bind(channel, peer) {
    return this.request(C.STUN_CHANNEL_BIND_REQUEST, (m) => {
      m.addAttribute(C.STUN_ATTR_CHANNEL_NUMBER, channel << 16);
      m.addAttribute(C.STUN_ATTR_XOR_PEER_ADDRESS, peer.address, peer.port);
    });
  }
  sendIndication(peer, data) {
    const m = stun.createMessage(C.STUN_SEND_INDICATION);
    m.addAttribute(C.STUN_ATTR_XOR_PEER_ADDRESS, peer.address, peer.port);
    m.addAttribute(C.STUN_ATTR_DATA, Buffer.from(data));
    m.addFingerprint();
    log(this.name, `→ Send indication to ${peer.address}:${peer.port} "${data}"`);
    this.#send(m.toBuffer());
  }
  sendChannelData(channel, data) {
    // ChannelData (RFC 8656 §12.4) is not a STUN message: no codec covers it; 4-byte header, padded on streams.
    const body = Buffer.from(data);
    const pad = this.udp ? 0 : (4 - (body.length % 4)) % 4;
    const head = Buffer.alloc(4);
    head.writeUInt16BE(channel, 0);
    head.writeUInt16BE(body.length, 2);
    log(this.name, `→ ChannelData 0x${channel.toString(16)} "${data}"`);
    this.#send(Buffer.concat([head, body, Buffer.alloc(pad)]));
  }
}

const fmt = (a) => (a ? `${a.address}:${a.port}` : null);

/** Two allocations that relay to each other: the peer is the server's own relayed address, which any deployment must allow. */
async function pair(server, auth) {
  const a = new TurnClient('A', server, auth);
  const b = new TurnClient('B', server, auth);
  await Promise.all([a.open(), b.open()]);
  const [ra, rb] = await Promise.all([a.allocate(), b.allocate()]);
  if (ra.code || rb.code) throw new Error(`allocation failed: A ${ra.code} ${ra.reason}, B ${rb.code} ${rb.reason}`);
  return [a, b];
}

const CASES = {
  /** Allocate without credentials: 401 with REALM and NONCE (RFC 8656 §7.2, RFC 8489 §9.2.4). */
  async 'no-credentials'(server) {
    const c = new TurnClient('A', server, null);
    await c.open();
    const r = await c.allocate();
    c.close();
    return { code: r.code, realm: c.realm, nonce: Boolean(c.nonce) };
  },
  /** Allocate with the given credentials (wrong password, expired REST username): the code. */
  async authenticate(server, auth) {
    const c = new TurnClient('A', server, auth);
    await c.open();
    const r = await c.allocate();
    c.close();
    return { code: r.code, reason: r.reason };
  },
  /** Allocate, and relay a datagram between two allocations (permissions both ways). */
  async allocate(server, auth) {
    const [a, b] = await pair(server, auth);
    const perms = await Promise.all([a.permit(b.relayed.address), b.permit(a.relayed.address)]);
    a.sendIndication(b.relayed, 'hello-b');
    const got = await b.waitFor('hello-b', 2000);
    a.close();
    b.close();
    return { code: 0, relayed: fmt(a.relayed), lifetime: a.lifetime, permissions: perms.map((p) => p.code), relayedData: Boolean(got), from: got?.peer ?? null };
  },
  /** Data to a peer without a permission is dropped; with one it is relayed (RFC 8656 §9). */
  async permissions(server, auth) {
    const [a, b] = await pair(server, auth);
    await b.permit(a.relayed.address);
    a.sendIndication(b.relayed, 'before-permission');
    const before = await b.waitFor('before-permission', 1000);
    const p = await a.permit(b.relayed.address);
    a.sendIndication(b.relayed, 'after-permission');
    const after = await b.waitFor('after-permission', 2000);
    a.close();
    b.close();
    return { withoutPermission: before ? 'relayed' : 'dropped', permission: p.code, withPermission: after ? 'relayed' : 'dropped' };
  },
  /** ChannelBind, ChannelData both ways, and a channel number outside 0x4000-0x4FFF (400). */
  async channel(server, auth) {
    const [a, b] = await pair(server, auth);
    await b.permit(a.relayed.address);
    const bound = await a.bind(0x4000, b.relayed);
    a.sendChannelData(0x4000, 'via-channel');
    const there = await b.waitFor('via-channel', 2000);
    b.sendIndication(a.relayed, 'back-to-a');
    const back = await a.waitFor('back-to-a', 2000);
    const invalid = await a.bind(0x3fff, b.relayed);
    a.close();
    b.close();
    return { bind: bound.code, channelDataRelayed: Boolean(there), returnedAs: back?.kind ?? 'nothing', invalidChannel: invalid.code };
  },
  /** A request carrying a nonce the server did not issue to this client (taken from another 5-tuple's 401). */
  async 'stale-nonce'(server, auth) {
    const other = new TurnClient('B', server, null);
    const a = new TurnClient('A', server, auth);
    await Promise.all([other.open(), a.open()]);
    await other.allocate();
    const foreign = other.nonce;
    const r0 = await a.allocate();
    const stale = await a.refresh(600, { retryAuth: false, nonce: foreign === a.nonce ? `${foreign}x` : foreign });
    const fresh = stale.msg?.getNonce() ?? null;
    const retry = await a.refresh(600, { retryAuth: false });
    other.close();
    a.close();
    return { allocate: r0.code, stale: stale.code, newNonce: Boolean(fresh) && fresh !== foreign, retryWithNewNonce: retry.code };
  },
  /** Refresh with a lifetime, different credentials on the allocation (441), then LIFETIME 0 deletes it. */
  async refresh(server, auth, params) {
    const a = new TurnClient('A', server, auth);
    await a.open();
    const r0 = await a.allocate();
    const r1 = await a.refresh(600);
    const other = params.otherAuth ? await a.refresh(600, { auth: params.otherAuth }) : null;
    const del = await a.refresh(0);
    if (params.waitAfterDeleteMs) await sleep(params.waitAfterDeleteMs);
    const after = await a.refresh(600);
    const perm = await a.permit(a.relayed?.address ?? '0.0.0.0');
    a.close();
    return {
      allocate: r0.code,
      refresh: r1.code,
      lifetime: r1.msg?.getAttribute(C.STUN_ATTR_LIFETIME)?.value ?? null,
      otherCredentials: other?.code ?? null,
      delete: del.code,
      deleteLifetime: del.msg?.getAttribute(C.STUN_ATTR_LIFETIME)?.value ?? null,
      refreshAfterDelete: after.code,
      permissionAfterDelete: perm.code,
    };
  },
  /** Allocate asking for a short lifetime; if granted no more than params.maxWait s, wait it out and check the allocation is gone. */
  async lifetime(server, auth, params) {
    const a = new TurnClient('A', server, auth);
    await a.open();
    const r0 = await a.allocate(params.lifetime);
    const granted = a.lifetime ?? null;
    let expired = null;
    if (r0.code === 0 && granted !== null && granted <= params.maxWait) {
      await sleep((granted + 1.5) * 1000);
      expired = (await a.refresh(600)).code;
    }
    a.close();
    return { allocate: r0.code, requested: params.lifetime, granted, refreshAfterExpiry: expired };
  },
  /** CreatePermission for each peer address (no data is sent to any of them): the code per address. */
  async peers(server, auth, params) {
    const a = new TurnClient('A', server, auth);
    await a.open();
    const r0 = await a.allocate();
    if (r0.code) throw new Error(`allocation failed: ${r0.code} ${r0.reason}`);
    const codes = {};
    // One at a time: coturn may close an allocation after a refused peer; each address gets a clean answer.
    for (const peer of [a.relayed.address, ...params.peers]) codes[peer] = (await a.permit(peer)).code;
    a.close();
    return { relayed: fmt(a.relayed), codes };
  },
};

const input = JSON.parse(process.argv[2] ?? '{}');
const run = CASES[input.case];
let out;
try {
  if (!run) throw new Error(`unknown case "${input.case}" (one of: ${Object.keys(CASES).join(', ')})`);
  out = { ok: true, result: await run(input.server, input.auth, input.params ?? {}) };
} catch (e) {
  out = { ok: false, error: String(e?.message ?? e) };
}
process.stdout.write(`${JSON.stringify({ ...out, transcript })}\n`);
process.exit(0);
