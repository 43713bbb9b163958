// Init script (context.addInitScript): records every RTCPeerConnection an app creates, with no
// change to the app (rtcstats' approach). The constructor is replaced by a subclass, so
// instanceof, the prototype chain, static methods (generateCertificate) and the app's own
// subclasses keep working; Chromium's webkitRTCPeerConnection stays the same object. Plain browser
// JavaScript; the harness reads the records through window.__icelabRecorder. Times are epoch ms.
(() => {
  const Native = window.RTCPeerConnection;
  if (typeof Native !== 'function' || window.__icelabRecorder) return;
  const now = () => performance.timeOrigin + performance.now();
  const records = [];
  const POLL_MS = 200;
  const MAX_SNAPSHOTS = 20;
  const MAX_SAMPLES = 120;
  const SAMPLE_EVERY = 5; // polls: a getStats sample a second

  const { candidateOf, selectedOf, snapshotOf } = icelabIceStats(now);
  /** RTP counters per kind and the selected pair's bytes: what a sample keeps of getStats. */
  const sampleOf = (stats) => {
    const rtp = [];
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp' && s.type !== 'outbound-rtp') return;
      rtp.push({ type: s.type, kind: s.kind ?? s.mediaType, packets: s.packetsReceived ?? s.packetsSent ?? 0, bytes: s.bytesReceived ?? s.bytesSent ?? 0, framesDecoded: s.framesDecoded ?? null });
    });
    const sel = selectedOf(stats);
    return { t: now(), rtp, selected: sel ? { bytesSent: sel.bytesSent ?? null, bytesReceived: sel.bytesReceived ?? null, currentRoundTripTime: sel.currentRoundTripTime ?? null } : null };
  };
  /** The RTCConfiguration as passed, credentials left out: reports are shared. */
  const configOf = (c) => {
    if (!c || typeof c !== 'object') return {};
    const servers = Array.isArray(c.iceServers) ? c.iceServers : [];
    return {
      iceServers: servers.map((s) => ({ urls: [].concat(s?.urls ?? s?.url ?? []).map(String), username: s?.username ?? null, hasCredential: s?.credential !== undefined })),
      iceTransportPolicy: c.iceTransportPolicy ?? 'all',
      bundlePolicy: c.bundlePolicy ?? null,
    };
  };

  function record(pc, config) {
    const r = {
      id: records.length,
      created: now(),
      config: configOf(config),
      configChanges: [],
      descriptions: [],
      candidates: [],
      remoteCandidates: [],
      addCandidateErrors: [],
      candidateErrors: [],
      timeline: [],
      pairSnapshots: [],
      lastPairs: null,
      samples: [],
      dataChannels: [],
    };
    records.push({ r, pc });
    for (const [what, prop] of [
      ['signalingstatechange', 'signalingState'],
      ['icegatheringstatechange', 'iceGatheringState'],
      ['iceconnectionstatechange', 'iceConnectionState'],
      ['connectionstatechange', 'connectionState'],
    ]) {
      pc.addEventListener(what, () => r.timeline.push({ t: now(), what: prop, state: pc[prop] }));
    }
    pc.addEventListener('icecandidate', (e) => {
      const c = e.candidate;
      if (c && c.candidate) r.candidates.push({ t: now(), candidate: c.candidate, type: c.type ?? /typ (\w+)/.exec(c.candidate)?.[1], protocol: c.protocol, relayProtocol: c.relayProtocol ?? null, address: c.address, port: c.port, url: c.url ?? null });
    });
    pc.addEventListener('icecandidateerror', (e) => r.candidateErrors.push({ t: now(), errorCode: e.errorCode, errorText: e.errorText, url: e.url, address: e.address ?? null, port: e.port ?? null }));
    pc.addEventListener('track', (e) => r.timeline.push({ t: now(), what: 'track', state: e.track.kind }));
    pc.addEventListener('datachannel', (e) => watchChannel(r, e.channel));
    let polls = 0;
    let busy = false;
    const timer = setInterval(async () => {
      if (busy) return;
      if (pc.signalingState === 'closed') return clearInterval(timer);
      busy = true;
      try {
        const stats = await pc.getStats();
        const snap = snapshotOf(stats);
        if (snap.pairs.length) r.lastPairs = snap;
        const prev = r.pairSnapshots[r.pairSnapshots.length - 1];
        if (snap.selectedId && snap.selectedId !== prev?.selectedId && r.pairSnapshots.length < MAX_SNAPSHOTS) r.pairSnapshots.push(snap);
        if (polls++ % SAMPLE_EVERY === 0) {
          r.samples.push(sampleOf(stats));
          if (r.samples.length > MAX_SAMPLES) r.samples.splice(1, 1); // keep the first
        }
      } catch {
        // closed between the check and getStats
      } finally {
        busy = false;
      }
    }, POLL_MS);
  }

  function watchChannel(r, ch) {
    const d = { label: ch.label, opened: null, closed: null };
    r.dataChannels.push(d);
    ch.addEventListener('open', () => (d.opened = now()));
    ch.addEventListener('close', () => (d.closed = now()));
  }
  const recordOf = (pc) => records.find((x) => x.pc === pc)?.r;
  const described = (pc, which) => {
    const r = recordOf(pc);
    const d = which === 'local' ? pc.localDescription : pc.remoteDescription;
    if (!r || !d) return;
    const last = r.descriptions.filter((x) => x.which === which).pop();
    if (last && last.sdp === d.sdp && last.type === d.type) return;
    r.descriptions.push({ t: now(), which, type: d.type, sdp: d.sdp });
    if (which === 'remote') for (const line of d.sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) r.remoteCandidates.push({ t: now(), candidate: line.slice(2), via: 'sdp' });
  };
  // After the native call, whichever form it was called in (promise or legacy callbacks).
  const after = (result, fn) => {
    Promise.resolve(result).then(fn, () => undefined);
    return result;
  };

  class RTCPeerConnection extends Native {
    constructor(config, ...rest) {
      super(config, ...rest);
      record(this, config);
    }
    setLocalDescription(...a) {
      return after(super.setLocalDescription(...a), () => described(this, 'local'));
    }
    setRemoteDescription(...a) {
      return after(super.setRemoteDescription(...a), () => described(this, 'remote'));
    }
    addIceCandidate(...a) {
      const c = a[0];
      const line = c && typeof c === 'object' ? c.candidate : null;
      const result = super.addIceCandidate(...a);
      Promise.resolve(result).then(
        () => line && recordOf(this)?.remoteCandidates.push({ t: now(), candidate: line, via: 'trickle' }),
        (e) => recordOf(this)?.addCandidateErrors.push({ t: now(), candidate: line ?? null, error: String(e) }),
      );
      return result;
    }
    createDataChannel(...a) {
      const ch = super.createDataChannel(...a);
      const r = recordOf(this);
      if (r) watchChannel(r, ch);
      return ch;
    }
    setConfiguration(config) {
      const result = super.setConfiguration(config);
      recordOf(this)?.configChanges.push({ t: now(), config: configOf(config) });
      return result;
    }
  }
  const hadWebkit = window.webkitRTCPeerConnection === Native;
  window.RTCPeerConnection = RTCPeerConnection;
  if (hadWebkit) window.webkitRTCPeerConnection = RTCPeerConnection;

  const pcOf = (id) => records[id]?.pc;
  Object.defineProperty(window, '__icelabRecorder', {
    enumerable: false,
    value: {
      /** Every record with the peer connection's states now. */
      records: () => records.map(({ r, pc }) => ({ ...r, signalingState: pc.signalingState, connectionState: pc.connectionState ?? null, iceConnectionState: pc.iceConnectionState, iceGatheringState: pc.iceGatheringState })),
      /** The selected pair and the pending pairs that outrank it (a switch is still possible). */
      async pair(id) {
        const pc = pcOf(id);
        const stats = await pc.getStats();
        const pairs = [...stats.values()].filter((s) => s.type === 'candidate-pair');
        const sel = selectedOf(stats);
        const rank = (p) => {
          const l = stats.get(p.localCandidateId)?.priority ?? 0;
          const q = stats.get(p.remoteCandidateId)?.priority ?? 0;
          return [Math.min(l, q), Math.max(l, q)];
        };
        const outranks = (p, q) => {
          const [x, y] = [rank(p), rank(q)];
          return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
        };
        return {
          t: now(),
          state: pc.connectionState ?? pc.iceConnectionState,
          selected: sel ? { id: sel.id, state: sel.state, local: candidateOf(stats, sel.localCandidateId), remote: candidateOf(stats, sel.remoteCandidateId), currentRoundTripTime: sel.currentRoundTripTime ?? null } : null,
          contenders: pairs.filter((p) => (p.state === 'in-progress' || p.state === 'waiting') && (!sel || outranks(p, sel))).map((p) => ({ id: p.id, requestsSent: p.requestsSent ?? null, responsesReceived: p.responsesReceived ?? 0 })),
        };
      },
      /** The candidate pairs now, or at the last poll that saw any (an engine may drop them after ICE failed). */
      async pairsNow(id) {
        const r = records[id];
        const snap = snapshotOf(await r.pc.getStats());
        return snap.pairs.length ? snap : r.r.lastPairs ?? snap;
      },
      async stats(id) {
        const out = [];
        (await pcOf(id).getStats()).forEach((s) => out.push(s));
        return out;
      },
    },
  });
})();
