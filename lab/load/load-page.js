// The page of `icelab load`: many relay-only peer connections in one page, driven by the harness
// through window.icelabLoad. Each call's offerer sends probe packets (timestamp + sequence number)
// over an unreliable data channel and the answerer echoes them, so round-trip time and loss are
// measured on the relayed path itself. Media calls also send the fake devices' tracks.
(() => {
  const calls = new Map();
  const now = () => performance.timeOrigin + performance.now();
  const PROBE_BYTES = 160;
  // A probe that would wait behind this much in the channel's send buffer is skipped, as a real-time
  // app drops a late frame: it counts as lost, and RTT stays the path's, not a queue's length.
  const MAX_BUFFERED = 8 * PROBE_BYTES;
  let created = 0;
  let media = null;
  let sending = true;
  let statsCursor = 0;

  /** One getUserMedia per page: every call sends the same fake tracks (a track may be in many connections). */
  async function tracks(traffic) {
    if (traffic === 'data') return [];
    media ??= navigator.mediaDevices.getUserMedia(traffic === 'audio' ? { audio: true } : { audio: true, video: { width: 320, height: 240, frameRate: 15 } });
    return (await media).getTracks();
  }

  async function open(id, role, o) {
    const pc = new RTCPeerConnection({ iceServers: o.iceServers, iceTransportPolicy: 'relay', bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    created++;
    const c = { id, role, pc, dc: null, t0: now(), connectedAt: null, everConnected: false, errors: [], sent: 0, skipped: 0, echoed: 0, rtt: [], sendStart: 0, rate: o.probeRate, stats: null };
    pc.onicecandidateerror = (e) => c.errors.push(e.errorCode);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && !c.connectedAt) c.connectedAt = now();
    };
    calls.set(id, c);
    for (const t of await tracks(o.traffic)) pc.addTrack(t);
    return c;
  }

  /** Relay-only gathering ends quickly; an allocation refused (486, 508) ends it with no candidate. */
  function gathered(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => pc.iceGatheringState === 'complete' && (clearTimeout(timer), resolve());
      const timer = setTimeout(resolve, ms);
      pc.addEventListener('icegatheringstatechange', done);
    });
  }

  const described = (c) => ({ sdp: c.pc.localDescription.sdp, relays: (c.pc.localDescription.sdp.match(/ typ relay/g) ?? []).length, errors: [...new Set(c.errors)] });

  function onEcho(c, data) {
    const v = new DataView(data);
    c.echoed++;
    c.rtt.push(now() - v.getFloat64(0));
  }

  async function offer(id, o) {
    const c = await open(id, 'offer', o);
    c.dc = c.pc.createDataChannel('load', { ordered: false, maxRetransmits: 0 });
    c.dc.binaryType = 'arraybuffer';
    c.dc.onopen = () => (c.sendStart = now());
    c.dc.onmessage = (e) => onEcho(c, e.data);
    await c.pc.setLocalDescription();
    await gathered(c.pc, o.gatherTimeoutMs);
    return described(c);
  }

  async function answer(id, sdp, o) {
    const c = await open(id, 'answer', o);
    c.pc.ondatachannel = (e) => {
      c.dc = e.channel;
      c.dc.binaryType = 'arraybuffer';
      c.dc.onmessage = (m) => {
        c.echoed++;
        if (c.dc.readyState === 'open') c.dc.send(m.data);
      };
    };
    await c.pc.setRemoteDescription({ type: 'offer', sdp });
    await c.pc.setLocalDescription();
    await gathered(c.pc, o.gatherTimeoutMs);
    return described(c);
  }

  /** Sends what each offerer owes by now: timer delays do not lower the rate (at most 10 packets per call per pump). */
  function pump() {
    if (!sending) return;
    const t = now();
    for (const c of calls.values()) {
      if (c.role !== 'offer' || c.dc?.readyState !== 'open' || !c.sendStart) continue;
      const due = Math.floor(((t - c.sendStart) * c.rate) / 1000);
      for (let i = 0; i < 10 && c.sent + c.skipped < due; i++) {
        if (c.dc.bufferedAmount > MAX_BUFFERED) {
          c.skipped++;
          continue;
        }
        const b = new ArrayBuffer(PROBE_BYTES);
        const v = new DataView(b);
        v.setFloat64(0, now());
        v.setUint32(8, c.sent);
        try {
          c.dc.send(b);
        } catch {
          break;
        }
        c.sent++;
      }
    }
  }
  setInterval(pump, 20);

  /** What getStats says of one connection: the selected pair's RTT, and inbound RTP loss and jitter. */
  async function readStats(c) {
    const report = await c.pc.getStats();
    const s = { pairRttMs: null, jitterMs: null, rtpReceived: 0, rtpLost: 0 };
    let jitters = [];
    for (const r of report.values()) {
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && r.currentRoundTripTime !== undefined) s.pairRttMs = r.currentRoundTripTime * 1000;
      if (r.type === 'inbound-rtp') {
        s.rtpReceived += r.packetsReceived ?? 0;
        s.rtpLost += Math.max(0, r.packetsLost ?? 0);
        if (r.jitter !== undefined) jitters.push(r.jitter * 1000);
      }
    }
    if (jitters.length) s.jitterMs = Math.max(...jitters);
    c.stats = s;
  }

  window.icelabLoad = {
    offers: (list) => Promise.all(list.map((x) => offer(x.id, x.o).catch((e) => ({ error: String(e) })))),
    answers: (list) => Promise.all(list.map((x) => answer(x.id, x.sdp, x.o).catch((e) => ({ error: String(e) })))),
    accept: (list) =>
      Promise.all(
        list.map((x) =>
          calls
            .get(x.id)
            .pc.setRemoteDescription({ type: 'answer', sdp: x.sdp })
            .then(() => null, (e) => String(e)),
        ),
      ),
    /** Each call's counters (RTT samples since the last tick); getStats for at most `statsPerTick` connections, in turn. */
    async tick(statsPerTick) {
      const connected = [...calls.values()].filter((c) => c.pc.connectionState === 'connected');
      const chosen = [];
      for (let i = 0; i < Math.min(statsPerTick, connected.length); i++) chosen.push(connected[(statsCursor + i) % connected.length]);
      statsCursor += chosen.length;
      await Promise.all(chosen.map((c) => readStats(c).catch(() => undefined)));
      const out = [];
      for (const c of calls.values()) {
        out.push({ id: c.id, role: c.role, state: c.pc.connectionState, t0: c.t0, connectedAt: c.connectedAt, errors: [...new Set(c.errors)], sent: c.sent, skipped: c.skipped, echoed: c.echoed, rtt: c.rtt.map((x) => Math.round(x * 100) / 100), stats: c.stats });
        c.rtt = [];
        c.stats = null;
      }
      return { created, calls: out };
    },
    /** Opens the fake devices the calls will send (media traffic): once per page, before any call's clock starts. */
    async prepare(traffic) {
      await tracks(traffic);
    },
    /** Stops the probes (the echoes still in flight arrive before the last tick). */
    stopSending() {
      sending = false;
    },
    /** Hangs up: a closed connection releases its TURN allocation (a refresh with lifetime 0), as an app's would. */
    close(ids = [...calls.keys()]) {
      for (const id of ids) {
        calls.get(id)?.pc.close();
        calls.delete(id);
      }
    },
  };
})();
