// The in-page half of the peers on one long-lived page: one RTCPeerConnection per call, each
// keyed by the id the harness gave it, driven through `window.icelab.<method>(id, ...)` and
// reporting through the exposed binding `icelabEmit` ({ id, ... }). Closing a call frees its state
// (connection, tracks, timers). Plain browser JavaScript (it runs in Chromium, Firefox and WebKit as
// served). Times are epoch ms with sub-ms precision so both peers' timelines share one clock.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  /** Console lines of the page; a call's evidence takes those written while it was open. */
  const pageConsole = [];
  const calls = new Map();
  // Enough to show frames flowing and decoded; a quarter of the fake camera's 640x480@30 keeps
  // encoding cheap when many calls run at once on a small machine.
  const VIDEO = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } };
  // getStats has no change event for candidate pairs: the agent samples it this often, enough to
  // catch the pairs' states within 100 ms of a nomination, and decides settle at each sample.
  const POLL_MS = 100;
  const MAX_SNAPSHOTS = 20;

  const of = (id) => {
    const s = calls.get(id);
    if (!s) throw new Error(`icelab: no call "${id}" on this page (closed, or never opened)`);
    return s;
  };

  const { candidateOf, selectedOf, snapshotOf } = icelabIceStats(now);

  /** Pair priority orders by the lower candidate priority, then the higher (RFC 8445 section 6.1.2.3). */
  const rankOf = (stats, p) => {
    const l = stats.get(p.localCandidateId)?.priority ?? 0;
    const r = stats.get(p.remoteCandidateId)?.priority ?? 0;
    return [Math.min(l, r), Math.max(l, r)];
  };
  const outranks = (stats, p, q) => {
    const [x, y] = [rankOf(stats, p), rankOf(stats, q)];
    return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
  };
  const isRelayPair = (stats, p) => stats.get(p.localCandidateId)?.candidateType === 'relay' || stats.get(p.remoteCandidateId)?.candidateType === 'relay';
  const cand = (stats, id) => {
    const c = candidateOf(stats, id);
    return c && { type: c.type, protocol: c.protocol, relayProtocol: c.relayProtocol, address: c.address, port: c.port, url: c.url };
  };

  /**
   * The selected pair and the checks that could still change it or its evidence: unanswered pairs
   * that outrank it, or (with a relay selected) any unanswered direct pair, since a direct pair that
   * answers is what tells "the NAT allowed the direct path" from "the agent nominated the relay
   * first". A pending pair stops counting once it is older than its grace: `relayGraceMs` from its
   * first check for a direct pair while a relay is selected (how long the verdict needs it tested,
   * DIRECT_TESTED_MS), `switchGraceMs` from when it appeared or the call connected (the later) for
   * a pair that outranks a selected direct pair (a reachable check in the lab is answered within a
   * few round trips of milliseconds; both engines have re-sent it several times by then). A pair
   * already answered but left in progress (Firefox, when the answer's mapped address made a prflx
   * pair valid) has shown its path and holds nothing up; nor does a pair whose remote address is
   * one the harness says this host cannot reach.
   */
  const pairView = (s, stats) => {
    const pairs = [...stats.values()].filter((x) => x.type === 'candidate-pair');
    const sel = selectedOf(stats);
    const t = now();
    for (const p of pairs) {
      const times = s.ev.pairTimes[p.id] ?? (s.ev.pairTimes[p.id] = { seen: t, checked: null, answered: null, ended: null });
      if (times.checked === null && ['in-progress', 'succeeded', 'failed'].includes(p.state)) times.checked = t;
      if (times.answered === null && (p.responsesReceived > 0 || p.state === 'succeeded')) times.answered = t;
      if (times.ended === null && (p.state === 'failed' || p.state === 'cancelled')) times.ended = t;
    }
    const unreachable = (p) => s.unreachable.includes(stats.get(p.remoteCandidateId)?.address ?? stats.get(p.remoteCandidateId)?.ip);
    const couldChange = (p) => sel && p.id !== sel.id && (outranks(stats, p, sel) || (isRelayPair(stats, sel) && !isRelayPair(stats, p)));
    const contenders = pairs.filter((p) => (p.state === 'in-progress' || p.state === 'waiting' || p.state === 'frozen') && !(p.responsesReceived > 0) && (!sel || couldChange(p)) && !unreachable(p));
    const relayed = (p) => sel && isRelayPair(stats, sel) && !isRelayPair(stats, p);
    const times = (p) => s.ev.pairTimes[p.id];
    // A direct pair under a relay counts from its first check (until then, from when it appeared or
    // the call connected); a pair that could outrank a direct one, from either of those.
    const since = (p) => (relayed(p) && times(p).checked !== null ? times(p).checked : Math.max(times(p).seen, s.connectedAt ?? 0));
    const live = contenders.filter((p) => t - since(p) < (relayed(p) ? s.relayGraceMs : s.switchGraceMs));
    return {
      t,
      selected: sel ? { id: sel.id, state: sel.state, local: cand(stats, sel.localCandidateId), remote: cand(stats, sel.remoteCandidateId), currentRoundTripTime: sel.currentRoundTripTime ?? null } : null,
      contenders: live.map((p) => ({ id: p.id, requestsSent: p.requestsSent ?? null, responsesReceived: p.responsesReceived ?? 0 })),
      pairs: pairs.length,
    };
  };

  const poll = async (s) => {
    if (s.pc.signalingState === 'closed') return;
    const stats = await s.pc.getStats();
    const snap = snapshotOf(stats);
    if (snap.pairs.length) s.lastPairs = snap;
    const prev = s.ev.pairSnapshots[s.ev.pairSnapshots.length - 1];
    if (snap.selectedId && snap.selectedId !== prev?.selectedId && s.ev.pairSnapshots.length < MAX_SNAPSHOTS) s.ev.pairSnapshots.push(snap);
    s.view = pairView(s, stats);
    for (const w of [...s.watchers]) w();
  };
  /** Samples now (an ICE event) or at the next tick; never two getStats at once. */
  const sample = (s) => {
    if (s.busy) return (s.again = true);
    s.busy = true;
    poll(s).finally(() => {
      s.busy = false;
      if (s.again) {
        s.again = false;
        sample(s);
      }
    });
  };
  const remoteFromSdp = (s, sdp) => {
    for (const line of sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) s.ev.remoteCandidates.push({ t: now(), candidate: line.slice(2), via: 'sdp' });
  };

  /** Resolves null once gathering is complete, or after `timeoutMs` with what was seen (the harness raises it). */
  const gatheringDone = (pc, timeoutMs) =>
    new Promise((resolve) => {
      const t0 = now();
      const done = () => {
        if (pc.iceGatheringState !== 'complete') return;
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', done);
        resolve(null);
      };
      // Waits for complete gathering without trickle: every ICE server answers or times out.
      const timer = setTimeout(() => {
        pc.removeEventListener('icegatheringstatechange', done);
        const candidates = (pc.localDescription?.sdp.match(/^a=candidate:/gm) ?? []).length;
        resolve({ waitedMs: Math.round(now() - t0), state: pc.iceGatheringState, candidates });
      }, timeoutMs);
      pc.addEventListener('icegatheringstatechange', done);
      done();
    });
  /** The local description once it may be sent: at once with trickle, else when gathering completed. */
  const described = async (pc, trickle, gatherTimeoutMs) => {
    const timedOut = trickle ? null : await gatheringDone(pc, gatherTimeoutMs);
    return timedOut ? { description: null, gatheringTimedOut: timedOut } : { description: pc.localDescription.toJSON() };
  };

  function wireChannel(s, ch) {
    s.dc = ch;
    ch.onopen = () => s.ev.timeline.push({ t: now(), what: 'datachannel', state: 'open' });
    ch.onclose = () => s.ev.timeline.push({ t: now(), what: 'datachannel', state: 'closed' });
    ch.onmessage = (m) => {
      const [kind, id] = String(m.data).split(':');
      if (kind === 'ping') ch.send(`pong:${id}`);
      else s.echoes.get(id)?.(now());
    };
  }

  /** Resolves with `check()`'s value once it is non-null, re-checked at each sample; null after `timeoutMs`. */
  const until = (s, check, timeoutMs) =>
    new Promise((resolve) => {
      const w = () => {
        const v = check();
        if (v === null) return;
        clearTimeout(timer);
        s.watchers.delete(w);
        resolve(v);
      };
      // Bounds the wait for a state the call may never reach (the caller says which).
      const timer = setTimeout(() => {
        s.watchers.delete(w);
        resolve(null);
      }, timeoutMs);
      s.watchers.add(w);
      w();
    });

  /** Inbound RTP counters per kind. */
  const inboundOf = async (pc) => {
    const out = {};
    (await pc.getStats()).forEach((x) => {
      if (x.type !== 'inbound-rtp') return;
      const k = x.kind ?? x.mediaType;
      out[k] = { packetsReceived: x.packetsReceived ?? 0, bytesReceived: x.bytesReceived ?? 0, framesDecoded: x.framesDecoded ?? null };
    });
    return out;
  };
  // A kind with no inbound-rtp yet at the first sample (sampling starts as the call connects, before
  // its first packet) counts from zero: its stats appearing later is packets arriving.
  const NONE = { packetsReceived: 0, framesDecoded: 0 };
  const flowOf = (kind, first = NONE, cur) =>
    !!cur && cur.packetsReceived > first.packetsReceived && (kind === 'audio' || (cur.framesDecoded ?? 0) > (first.framesDecoded ?? 0));

  const api = {
    /**
     * A new call on this page. `unreachable`: remote addresses this host has no route to (another
     * LAN's host addresses): their checks can never be answered, so they never hold settle up.
     */
    /**
     * `srflxFirstMs` (> 0): this side's first gathering gets its server-reflexive candidate before
     * the other side's trickled candidates are added (at most that long after gathering starts).
     * Otherwise a check answered by a public peer can teach the agent its mapped address before its
     * STUN server does; Chromium then drops the srflx as redundant, and the evidence can no longer
     * tell a trickle race from a NAT that maps per destination (the verdict says unknown).
     */
    async init(id, { config, media, role, unreachable = [], switchGraceMs, relayGraceMs, srflxFirstMs = 0 }) {
      const pc = new RTCPeerConnection(config);
      const ev = { timeline: [], candidates: [], candidateErrors: [], addCandidateErrors: [], remoteCandidates: [], pairSnapshots: [], pairTimes: {}, created: now() };
      const s = { id, pc, ev, dc: null, pending: [], echoes: new Map(), tracks: [], unreachable, switchGraceMs, relayGraceMs, connectedAt: null, watchers: new Set(), view: null, lastPairs: null, busy: false, again: false, timer: null };
      calls.set(id, s);
      s.srflxReady = srflxFirstMs <= 0;
      s.ownSrflx = new Promise((resolve) => {
        const release = (why) => {
          if (s.srflxReady) return;
          s.srflxReady = true;
          ev.timeline.push({ t: now(), what: 'remote candidates held until', state: why });
          resolve();
        };
        s.releaseSrflx = release;
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') release('gathering complete');
          // Bounds the hold for a STUN server that does not answer (UDP blocked, server down).
          if (pc.iceGatheringState === 'gathering') setTimeout(() => release(`no srflx within ${srflxFirstMs} ms`), srflxFirstMs);
        });
      });
      const emit = (msg) => window.icelabEmit({ id, ...msg });
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
          for (const w of [...s.watchers]) w();
          if (what === 'iceconnectionstatechange') sample(s);
        });
      }
      pc.onicecandidate = (e) => {
        const c = e.candidate;
        if (c && c.candidate && (c.type ?? /typ (\w+)/.exec(c.candidate)?.[1]) === 'srflx') s.releaseSrflx('srflx gathered');
        if (c && c.candidate) ev.candidates.push({ t: now(), candidate: c.candidate, type: c.type ?? /typ (\w+)/.exec(c.candidate)?.[1], protocol: c.protocol, relayProtocol: c.relayProtocol ?? null, address: c.address, port: c.port, url: c.url ?? null });
        emit({ type: 'candidate', candidate: c && c.candidate ? c.toJSON() : null });
      };
      pc.onicecandidateerror = (e) => ev.candidateErrors.push({ t: now(), errorCode: e.errorCode, errorText: e.errorText, url: e.url, address: e.address ?? null, port: e.port ?? null });
      pc.ontrack = (e) => ev.timeline.push({ t: now(), what: 'track', state: e.track.kind });
      pc.ondatachannel = (e) => wireChannel(s, e.channel);
      const kinds = media.filter((m) => m === 'audio' || m === 'video');
      if (kinds.length) {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: kinds.includes('audio'), video: kinds.includes('video') && VIDEO });
        for (const t of stream.getTracks()) {
          s.tracks.push(t);
          pc.addTrack(t, stream);
        }
      }
      if (media.includes('data') && role === 'offerer') wireChannel(s, pc.createDataChannel('icelab'));
      s.timer = setInterval(() => sample(s), POLL_MS);
    },
    /** The offer, and when it became the local description (have-local-offer, this page's clock). */
    async offer(id, { iceRestart = false, trickle = true, gatherTimeoutMs }) {
      const { pc, ev } = of(id);
      await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
      const offeredAt = ev.timeline.findLast((e) => e.what === 'signalingState' && e.state === 'have-local-offer')?.t ?? null;
      return { ...(await described(pc, trickle, gatherTimeoutMs)), offeredAt };
    },
    async answer(id, offer, { trickle = true, gatherTimeoutMs }) {
      const s = of(id);
      await s.pc.setRemoteDescription(offer);
      remoteFromSdp(s, offer.sdp);
      await api.flushCandidates(id);
      await s.pc.setLocalDescription(await s.pc.createAnswer());
      return described(s.pc, trickle, gatherTimeoutMs);
    },
    async accept(id, answer) {
      const s = of(id);
      await s.pc.setRemoteDescription(answer);
      remoteFromSdp(s, answer.sdp);
      await api.flushCandidates(id);
    },
    async addCandidate(id, c) {
      const s = of(id);
      if (!s.pc.remoteDescription) s.pending.push(c);
      else if (!s.srflxReady) {
        s.pending.push(c);
        await api.flushCandidates(id);
      } else
        await s.pc.addIceCandidate(c ?? undefined).then(
          () => c?.candidate && s.ev.remoteCandidates.push({ t: now(), candidate: c.candidate, via: 'trickle' }),
          (e) => {
            const t = now();
            s.ev.timeline.push({ t, what: 'addIceCandidate-error', state: String(e) });
            s.ev.addCandidateErrors.push({ t, candidate: c?.candidate ?? null, error: String(e) });
          },
        );
    },
    /** Adds the candidates that came before the remote description; while srflx comes first, once it came (not waited for). */
    async flushCandidates(id) {
      const s = of(id);
      if (!s.srflxReady) {
        s.flushLater ??= s.ownSrflx.then(() => {
          s.flushLater = null;
          return calls.has(id) ? api.flushCandidates(id) : undefined;
        });
        return;
      }
      const list = s.pending;
      s.pending = [];
      for (const c of list) await api.addCandidate(id, c);
    },
    async addTrack(id, kind) {
      const s = of(id);
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: kind === 'video' ? VIDEO : true });
      for (const t of stream.getTracks()) {
        s.tracks.push(t);
        s.pc.addTrack(t, stream);
      }
    },
    /** Resolves once connectionState (iceConnectionState where the engine lacks it) leaves new/checking. */
    async waitConnected(id, timeoutMs) {
      const s = of(id);
      const state = () => s.pc.connectionState ?? s.pc.iceConnectionState;
      const ended = () => (['connected', 'completed', 'failed', 'closed'].includes(state()) ? { state: state(), t: now() } : null);
      // Bounded by the call's connect timeout: ICE may never connect (a predicted failure).
      const r = (await until(s, ended, timeoutMs)) ?? { state: state(), t: now(), timedOut: true };
      if (r.state === 'connected' || r.state === 'completed') s.connectedAt = r.t;
      return r;
    },
    /**
     * Resolves once this side's selected pair exists and no check that could change it is live
     * (pairView), decided at each ICE event and stats sample; after `maxMs` with the last view and
     * settled false.
     */
    async settle(id, maxMs) {
      const s = of(id);
      sample(s);
      const quiet = () => (s.view && s.view.selected && s.view.contenders.length === 0 ? s.view : null);
      // Bounded: a pair that stays in progress past maxMs leaves the call unsettled (the verdict says unknown).
      const v = await until(s, quiet, maxMs);
      return v ? { settled: true, ...v } : { settled: false, ...(s.view ?? { t: now(), selected: null, contenders: [], pairs: 0 }) };
    },
    /** The selected pair and the live contenders now. */
    async pair(id) {
      const s = of(id);
      s.view = pairView(s, await s.pc.getStats());
      return s.view;
    },
    /** The candidate pairs now, or at the last poll that saw any. */
    async pairsNow(id) {
      const s = of(id);
      const snap = snapshotOf(await s.pc.getStats());
      return snap.pairs.length ? snap : s.lastPairs ?? snap;
    },
    async stats(id) {
      const out = [];
      (await of(id).pc.getStats()).forEach((x) => out.push(x));
      return out;
    },
    /**
     * Media flow per kind, confirmed by the first samples that show it: inbound packets (and, for
     * video, decoded frames) rising over the first reading. Samples every `everyMs`, at most `maxMs`.
     */
    async mediaFlow(id, kinds, { everyMs = 50, maxMs = 3000 } = {}) {
      const s = of(id);
      const t0 = now();
      const first = await inboundOf(s.pc);
      let cur = first;
      const done = () => kinds.every((k) => flowOf(k, first[k], cur[k]));
      while (!done() && now() - t0 < maxMs) {
        // The next RTP packets: audio comes every 20 ms, video frames every 67 ms at 15 fps.
        await new Promise((r) => setTimeout(r, everyMs));
        cur = await inboundOf(s.pc);
      }
      return Object.fromEntries(kinds.map((k) => [k, { flowing: flowOf(k, first[k], cur[k]), packetsReceived: cur[k]?.packetsReceived ?? 0, framesDecoded: cur[k]?.framesDecoded ?? null }]));
    },
    /**
     * Starts an echo on the channel and returns its round trip, or null when no channel opened
     * within `timeoutMs` or no echo came back. Called as the call connects, the channel may still be
     * opening (DTLS and SCTP after ICE): that is waited for, within the same bound.
     */
    async ping(id, timeoutMs = 2000) {
      const s = of(id);
      if (s.dc && s.dc.readyState === 'connecting') {
        // Bounded by timeoutMs: a channel that never opens makes the round trip null.
        await new Promise((r) => {
          const timer = setTimeout(r, timeoutMs);
          s.dc.addEventListener('open', () => (clearTimeout(timer), r()), { once: true });
        });
      }
      if (!s.dc || s.dc.readyState !== 'open') return null;
      const key = String(Math.random()).slice(2);
      const t0 = now();
      const back = new Promise((r) => s.echoes.set(key, r));
      s.dc.send(`ping:${key}`);
      // Bounded: an echo lost on a broken path must not hold the call.
      const t = await Promise.race([back, new Promise((r) => setTimeout(() => r(null), timeoutMs))]);
      s.echoes.delete(key);
      return t === null ? null : t - t0;
    },
    evidence(id) {
      const { ev, pc } = of(id);
      const console = pageConsole.filter((c) => c.t >= ev.created);
      return { ...ev, console, signalingState: pc.signalingState, connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState };
    },
    /** Closes the call and frees everything it held on this page. */
    close(id) {
      const s = calls.get(id);
      if (!s) return;
      clearInterval(s.timer);
      for (const t of s.tracks) t.stop();
      s.pc.close();
      s.watchers.clear();
      calls.delete(id);
      const oldest = Math.min(...[...calls.values()].map((c) => c.ev.created));
      while (pageConsole.length && pageConsole[0].t < oldest) pageConsole.shift();
    },
    /** Calls open on this page (the harness checks that closing freed them). */
    open() {
      return [...calls.keys()];
    },
  };
  for (const level of ['log', 'info', 'warn', 'error']) {
    const orig = console[level].bind(console);
    console[level] = (...a) => {
      pageConsole.push({ t: now(), level, text: a.map(String).join(' ') });
      orig(...a);
    };
  }
  window.icelab = api;
})();
