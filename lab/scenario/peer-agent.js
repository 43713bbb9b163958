// The in-page half of a peer: one RTCPeerConnection driven by the harness through
// `window.icelab`, reporting through the exposed binding `icelabEmit`. Plain browser JavaScript
// (it runs in Chromium, Firefox and WebKit as served). Times are epoch ms with sub-ms precision so
// both peers' timelines share one clock.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const emit = (msg) => window.icelabEmit(msg);
  // remoteCandidates: what signaling delivered (trickled and added, or in a remote description).
  // pairSnapshots: every candidate pair each time the selected pair first appears or changes.
  const ev = { timeline: [], candidates: [], candidateErrors: [], addCandidateErrors: [], remoteCandidates: [], pairSnapshots: [], console: [], created: 0 };
  let pc = null;
  let poller = null;
  /** The last poll that saw candidate pairs: an engine may drop them once ICE has failed. */
  let lastPairs = null;
  let dc = null;
  let pendingRemote = [];
  const echoes = new Map();
  // Enough to show frames flowing and decoded; a quarter of the fake camera's 640x480@30 keeps
  // encoding cheap when many calls run at once on a small machine.
  const VIDEO = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } };
  /** Resolves null once gathering is complete, or after `timeoutMs` with what was seen (the harness raises it). */
  const gatheringDone = (timeoutMs) =>
    new Promise((resolve) => {
      const t0 = now();
      const done = () => {
        if (pc.iceGatheringState !== 'complete') return;
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', done);
        resolve(null);
      };
      const timer = setTimeout(() => {
        pc.removeEventListener('icegatheringstatechange', done);
        const candidates = (pc.localDescription?.sdp.match(/^a=candidate:/gm) ?? []).length;
        resolve({ waitedMs: Math.round(now() - t0), state: pc.iceGatheringState, candidates });
      }, timeoutMs);
      pc.addEventListener('icegatheringstatechange', done);
      done();
    });
  /** The local description once it may be sent: at once with trickle, else when gathering completed. */
  const described = async (trickle, gatherTimeoutMs) => {
    const timedOut = trickle ? null : await gatheringDone(gatherTimeoutMs);
    return timedOut ? { description: null, gatheringTimedOut: timedOut } : { description: pc.localDescription.toJSON() };
  };

  /** RTCIceCandidateStats as the verdict reads it. */
  const candidateOf = (stats, id) => {
    const c = stats.get(id);
    return c ? { type: c.candidateType, protocol: c.protocol, relayProtocol: c.relayProtocol ?? null, address: c.address ?? c.ip ?? null, port: c.port ?? null, tcpType: c.tcpType ?? null, url: c.url ?? null } : null;
  };
  const selectedOf = (stats) => {
    const all = [...stats.values()];
    const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pairs = all.filter((s) => s.type === 'candidate-pair');
    return transport ? stats.get(transport.selectedCandidatePairId) : pairs.find((p) => p.selected) ?? pairs.find((p) => p.nominated && p.state === 'succeeded');
  };
  /** Every candidate pair with its check counters, and the selected one's id. */
  const snapshotOf = (stats) => {
    const pairs = [];
    stats.forEach((p) => {
      if (p.type !== 'candidate-pair') return;
      pairs.push({
        id: p.id,
        state: p.state,
        nominated: p.nominated ?? false,
        requestsSent: p.requestsSent ?? null,
        responsesReceived: p.responsesReceived ?? null,
        requestsReceived: p.requestsReceived ?? null,
        local: candidateOf(stats, p.localCandidateId),
        remote: candidateOf(stats, p.remoteCandidateId),
      });
    });
    return { t: now(), selectedId: selectedOf(stats)?.id ?? null, pairs };
  };
  // Often enough to catch the pairs' states within 100 ms of a nomination.
  const POLL_MS = 100;
  const MAX_SNAPSHOTS = 20;
  const poll = async () => {
    if (!pc || pc.signalingState === 'closed') return;
    const snap = snapshotOf(await pc.getStats());
    if (snap.pairs.length) lastPairs = snap;
    const prev = ev.pairSnapshots[ev.pairSnapshots.length - 1];
    if (snap.selectedId && snap.selectedId !== prev?.selectedId && ev.pairSnapshots.length < MAX_SNAPSHOTS) ev.pairSnapshots.push(snap);
  };
  const startPolling = () => {
    let busy = false;
    poller = setInterval(() => {
      if (busy) return;
      busy = true;
      poll().finally(() => (busy = false));
    }, POLL_MS);
  };
  const remoteFromSdp = (sdp) => {
    for (const line of sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) ev.remoteCandidates.push({ t: now(), candidate: line.slice(2), via: 'sdp' });
  };

  function wireChannel(ch) {
    dc = ch;
    ch.onopen = () => ev.timeline.push({ t: now(), what: 'datachannel', state: 'open' });
    ch.onclose = () => ev.timeline.push({ t: now(), what: 'datachannel', state: 'closed' });
    ch.onmessage = (m) => {
      const [kind, id] = String(m.data).split(':');
      if (kind === 'ping') ch.send(`pong:${id}`);
      else echoes.get(id)?.(now());
    };
  }

  const api = {
    async init({ config, media, role }) {
      ev.created = now();
      pc = new RTCPeerConnection(config);
      for (const [what, prop] of [
        ['signalingstatechange', 'signalingState'],
        ['icegatheringstatechange', 'iceGatheringState'],
        ['iceconnectionstatechange', 'iceConnectionState'],
        ['connectionstatechange', 'connectionState'],
      ]) {
        pc.addEventListener(what, () => {
          const entry = { t: now(), what: prop, state: pc[prop] };
          ev.timeline.push(entry);
          emit({ type: 'state', ...entry });
        });
      }
      pc.onicecandidate = (e) => {
        const c = e.candidate;
        if (c && c.candidate) ev.candidates.push({ t: now(), candidate: c.candidate, type: c.type ?? /typ (\w+)/.exec(c.candidate)?.[1], protocol: c.protocol, relayProtocol: c.relayProtocol ?? null, address: c.address, port: c.port, url: c.url ?? null });
        emit({ type: 'candidate', candidate: c && c.candidate ? c.toJSON() : null });
      };
      pc.onicecandidateerror = (e) => ev.candidateErrors.push({ t: now(), errorCode: e.errorCode, errorText: e.errorText, url: e.url, address: e.address ?? null, port: e.port ?? null });
      pc.ontrack = (e) => ev.timeline.push({ t: now(), what: 'track', state: e.track.kind });
      pc.ondatachannel = (e) => wireChannel(e.channel);
      const kinds = media.filter((m) => m === 'audio' || m === 'video');
      if (kinds.length) {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: kinds.includes('audio'), video: kinds.includes('video') && VIDEO });
        for (const t of stream.getTracks()) pc.addTrack(t, stream);
      }
      if (media.includes('data') && role === 'offerer') wireChannel(pc.createDataChannel('icelab'));
      startPolling();
    },
    async offer({ iceRestart = false, trickle = true, gatherTimeoutMs }) {
      await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
      return described(trickle, gatherTimeoutMs);
    },
    async answer(offer, { trickle = true, gatherTimeoutMs }) {
      await pc.setRemoteDescription(offer);
      remoteFromSdp(offer.sdp);
      await api.flushCandidates();
      await pc.setLocalDescription(await pc.createAnswer());
      return described(trickle, gatherTimeoutMs);
    },
    async accept(answer) {
      await pc.setRemoteDescription(answer);
      remoteFromSdp(answer.sdp);
      await api.flushCandidates();
    },
    async addCandidate(c) {
      if (!pc.remoteDescription) pendingRemote.push(c);
      else
        await pc.addIceCandidate(c ?? undefined).then(
          () => c?.candidate && ev.remoteCandidates.push({ t: now(), candidate: c.candidate, via: 'trickle' }),
          (e) => {
            const t = now();
            ev.timeline.push({ t, what: 'addIceCandidate-error', state: String(e) });
            ev.addCandidateErrors.push({ t, candidate: c?.candidate ?? null, error: String(e) });
          },
        );
    },
    async flushCandidates() {
      const list = pendingRemote;
      pendingRemote = [];
      for (const c of list) await api.addCandidate(c);
    },
    async addTrack(kind) {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: kind === 'video' ? VIDEO : true });
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
    },
    /** Resolves once connectionState (iceConnectionState where the engine lacks it) leaves new/checking. */
    waitConnected(timeoutMs) {
      const settled = () => {
        const s = pc.connectionState ?? pc.iceConnectionState;
        return s === 'connected' || s === 'completed' || s === 'failed' || s === 'closed' ? s : null;
      };
      return new Promise((resolve) => {
        const check = () => {
          const s = settled();
          if (s) {
            clearTimeout(timer);
            resolve({ state: s, t: now() });
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => resolve({ state: pc.connectionState ?? pc.iceConnectionState, t: now(), timedOut: true }), timeoutMs);
        if (!check()) {
          pc.addEventListener('connectionstatechange', check);
          pc.addEventListener('iceconnectionstatechange', check);
        }
      });
    },
    /** The selected pair with both candidates, and whether ICE checks are still running. */
    async pair() {
      const stats = await pc.getStats();
      const pairs = [...stats.values()].filter((s) => s.type === 'candidate-pair');
      const sel = selectedOf(stats);
      const rank = (p) => {
        const l = stats.get(p.localCandidateId)?.priority ?? 0;
        const r = stats.get(p.remoteCandidateId)?.priority ?? 0;
        return [Math.min(l, r), Math.max(l, r)];
      };
      const outranks = (p, q) => {
        const [x, y] = [rank(p), rank(q)];
        return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
      };
      const cand = (id) => {
        const c = candidateOf(stats, id);
        return c && { type: c.type, protocol: c.protocol, relayProtocol: c.relayProtocol, address: c.address, port: c.port, url: c.url };
      };
      return {
        t: now(),
        selected: sel ? { id: sel.id, state: sel.state, local: cand(sel.localCandidateId), remote: cand(sel.remoteCandidateId), currentRoundTripTime: sel.currentRoundTripTime ?? null } : null,
        // Only checks that could still win matter: pairs to unreachable addresses stay in progress
        // for tens of seconds. Pair priority orders by the lower candidate priority, then the higher
        // (RFC 8445 section 6.1.2.3).
        contenders: pairs
          .filter((p) => (p.state === 'in-progress' || p.state === 'waiting') && (!sel || outranks(p, sel)))
          .map((p) => ({ id: p.id, requestsSent: p.requestsSent ?? null, responsesReceived: p.responsesReceived ?? 0 })),
        pairs: pairs.length,
      };
    },
    /** The candidate pairs now, or at the last poll that saw any. */
    async pairsNow() {
      const snap = snapshotOf(await pc.getStats());
      return snap.pairs.length ? snap : lastPairs ?? snap;
    },
    async stats() {
      const out = [];
      (await pc.getStats()).forEach((s) => out.push(s));
      return out;
    },
    /** Data-channel round trip (ms), or null when no channel is open. */
    async rtt(timeoutMs = 2000) {
      if (!dc || dc.readyState !== 'open') return null;
      const id = String(Math.random()).slice(2);
      const t0 = now();
      const back = await Promise.race([new Promise((r) => echoes.set(id, r)), new Promise((r) => setTimeout(() => r(null), timeoutMs))]);
      echoes.delete(id);
      return back === null ? null : back - t0;
    },
    /** Starts an echo on the channel and returns its round trip. */
    async ping(timeoutMs = 2000) {
      if (!dc || dc.readyState !== 'open') return null;
      const id = String(Math.random()).slice(2);
      const t0 = now();
      const back = new Promise((r) => echoes.set(id, r));
      dc.send(`ping:${id}`);
      const t = await Promise.race([back, new Promise((r) => setTimeout(() => r(null), timeoutMs))]);
      echoes.delete(id);
      return t === null ? null : t - t0;
    },
    /** Inbound RTP counters per kind, to tell whether media flows. */
    async inbound() {
      const out = {};
      (await pc.getStats()).forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const k = s.kind ?? s.mediaType;
        out[k] = { packetsReceived: s.packetsReceived ?? 0, bytesReceived: s.bytesReceived ?? 0, framesDecoded: s.framesDecoded ?? null };
      });
      return out;
    },
    evidence() {
      return { ...ev, signalingState: pc?.signalingState, connectionState: pc?.connectionState, iceConnectionState: pc?.iceConnectionState };
    },
    close() {
      clearInterval(poller);
      pc?.close();
      ev.timeline.push({ t: now(), what: 'closed', state: 'closed' });
    },
  };
  for (const level of ['log', 'info', 'warn', 'error']) {
    const orig = console[level].bind(console);
    console[level] = (...a) => {
      ev.console.push({ t: now(), level, text: a.map(String).join(' ') });
      orig(...a);
    };
  }
  window.icelab = api;
})();
