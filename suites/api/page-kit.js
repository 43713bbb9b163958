// Runs inside the browser page (served by suites/api/api-page.ts). Plain JS on purpose: code that
// Playwright serialises must not pass through a TypeScript transform (helpers like __name).
// Every check returns { observed, detail }: `observed` is the short string the gate compares.
(() => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const timeout = (p, ms, what) =>
    Promise.race([p, sleep(ms).then(() => { throw new Error(`timed out after ${ms} ms waiting for ${what}`); })]);
  const errName = (e) => (e && typeof e === 'object' && 'name' in e ? String(e.name) : `non-error ${String(e)}`);
  const outcome = async (fn) => { try { await fn(); return 'ok'; } catch (e) { return errName(e); } };

  // Peer connections made by the running check; closed when it ends so a shared page stays clean.
  let open = [];
  let streams = [];
  const track = (pc) => (open.push(pc), pc);
  const gum = async (constraints) => {
    const s = await navigator.mediaDevices.getUserMedia(constraints);
    streams.push(s);
    return s;
  };
  const ctorOf = (name) => (typeof window[name] === 'function' ? window[name] : null);
  const make = (Ctor, config) => track(config === undefined ? new Ctor() : new Ctor(config));

  /** Relays candidates from `from` to `to`, holding them until `to` has a remote description. */
  function pipe(from, to, filter = () => true) {
    const queue = [];
    const flush = () => { while (queue.length && to.remoteDescription) to.addIceCandidate(queue.shift()).catch(() => undefined); };
    from.addEventListener('icecandidate', (e) => { if (e.candidate && e.candidate.candidate && filter(e.candidate)) { queue.push(e.candidate); flush(); } });
    to.addEventListener('signalingstatechange', flush);
    return flush;
  }
  async function negotiate(a, b) {
    const flushB = b.__flush, flushA = a.__flush;
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    if (flushB) flushB();
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    if (flushA) flushA();
  }
  const waitState = (pc, prop, ok, ms) =>
    timeout(new Promise((resolve) => {
      const check = () => { if (ok.includes(pc[prop])) resolve(pc[prop]); };
      pc.addEventListener(prop === 'connectionState' ? 'connectionstatechange' : prop === 'iceConnectionState' ? 'iceconnectionstatechange' : 'icegatheringstatechange', check);
      check();
    }), ms, `${prop} in [${ok}] (now ${pc[prop]})`);

  /** Two connected peers in this page: candidates relayed both ways, one data channel. */
  async function connectedPair(Ctor, { config, media = [], connectMs = 10000 } = {}) {
    const a = make(Ctor, config), b = make(Ctor, config);
    a.__flush = pipe(b, a); b.__flush = pipe(a, b);
    const dc = a.createDataChannel('icelab');
    let stream = null;
    if (media.length) {
      stream = await gum({ audio: media.includes('audio'), video: media.includes('video') });
      for (const t of stream.getTracks()) a.addTrack(t, stream);
    }
    const remoteTracks = [];
    b.addEventListener('track', (e) => remoteTracks.push(e.track.kind));
    const remoteDc = new Promise((r) => b.addEventListener('datachannel', (e) => r(e.channel)));
    await negotiate(a, b);
    await waitState(a, 'connectionState', ['connected'], connectMs);
    await waitState(b, 'connectionState', ['connected'], connectMs);
    return { a, b, dc, remoteDc, remoteTracks, stream };
  }
  async function dataEcho(dc, remoteDc) {
    const rdc = await timeout(remoteDc, 5000, 'the remote data channel');
    rdc.onmessage = (e) => rdc.send(`echo:${e.data}`);
    if (dc.readyState !== 'open') await timeout(new Promise((r) => (dc.onopen = r)), 5000, 'the data channel to open');
    const got = new Promise((r) => (dc.onmessage = (e) => r(e.data)));
    dc.send('ping');
    return timeout(got, 5000, 'the echo');
  }
  async function statsOf(pc) {
    const out = [];
    (await pc.getStats()).forEach((s) => out.push(s));
    return out;
  }
  async function selectedPair(pc) {
    const stats = await statsOf(pc);
    const byId = new Map(stats.map((s) => [s.id, s]));
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = transport ? byId.get(transport.selectedCandidatePairId) : stats.find((s) => s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded')));
    if (!pair) return null;
    return { local: byId.get(pair.localCandidateId)?.candidateType, remote: byId.get(pair.remoteCandidateId)?.candidateType };
  }
  /** Gathers candidates until gathering completes; also records the end-of-candidates signals in order. */
  async function gather(pc, ms = 10000) {
    const cands = [], events = [];
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate === null) events.push('null-candidate');
      else if (e.candidate.candidate === '') events.push('empty-candidate');
      else { cands.push(e.candidate); events.push('candidate'); }
    });
    pc.addEventListener('icegatheringstatechange', () => events.push(`state:${pc.iceGatheringState}`));
    const done = new Promise((r) => pc.addEventListener('icecandidate', (e) => { if (e.candidate === null) r(); }));
    if (!pc.getTransceivers().length && !pc.__dc) pc.__dc = pc.createDataChannel('gather');
    await pc.setLocalDescription(await pc.createOffer());
    await timeout(done, ms, `end of gathering (iceGatheringState ${pc.iceGatheringState}, ${cands.length} candidates)`);
    return { cands, events };
  }
  const candType = (c) => c.type ?? / typ (\w+)/.exec(c.candidate)?.[1];

  // ---- claims of the seed guide: observed 'true' when the claim holds --------------------------

  const held = (ok, detail) => ({ observed: ok ? 'true' : 'false', detail });

  /**
   * Claims about the prefixed constructor need it. Where it is missing the claim is false, and the
   * same check against the standard constructor is part of the verdict: a known "prefix missing"
   * must not hide a standard RTCPeerConnection that stopped doing what the claim says.
   */
  const prefixed = (check) => async (arg) => {
    const P = ctorOf('webkitRTCPeerConnection');
    if (P) return check(P, arg);
    const std = await check(RTCPeerConnection, arg).catch((e) => ({ observed: 'error', detail: `${errName(e)}: ${e.message}` }));
    const standard = std.observed === 'true' ? 'holds' : 'fails';
    return { observed: `false (prefix missing); standard ${standard}`, detail: `webkitRTCPeerConnection is not defined; with the standard RTCPeerConnection the claim ${standard}: ${std.detail}` };
  };

  const claims = {
    prefixedDefined: async () => {
      const t = typeof window.webkitRTCPeerConnection;
      return held(t === 'function', `typeof webkitRTCPeerConnection = ${t}`);
    },
    prefixedIsStandard: async () => {
      const P = ctorOf('webkitRTCPeerConnection');
      if (!P) return held(false, 'webkitRTCPeerConnection is not defined');
      return held(P === RTCPeerConnection, P === RTCPeerConnection ? 'webkitRTCPeerConnection === RTCPeerConnection' : `a distinct constructor (${P.name})`);
    },
    audioVideoData: prefixed(async (Ctor) => {
      const { a, b, dc, remoteDc, remoteTracks } = await connectedPair(Ctor, { media: ['audio', 'video'] });
      const echo = await dataEcho(dc, remoteDc);
      let inbound = {};
      for (let i = 0; i < 25; i++) {
        inbound = {};
        for (const s of await statsOf(b)) if (s.type === 'inbound-rtp') inbound[s.kind] = s.packetsReceived;
        if (inbound.audio > 0 && inbound.video > 0) break;
        await sleep(200);
      }
      void a;
      const ok = echo === 'echo:ping' && inbound.audio > 0 && inbound.video > 0;
      return held(ok, `remote tracks ${remoteTracks.sort().join('+') || 'none'}, RTP packets received audio ${inbound.audio ?? 0} video ${inbound.video ?? 0}, data echo ${echo}`);
    }),
    directWithoutServer: prefixed(async (Ctor) => {
      const { a, dc, remoteDc } = await connectedPair(Ctor, { config: { iceServers: [] } });
      const echo = await dataEcho(dc, remoteDc);
      const pair = await selectedPair(a);
      // No servers: only host and peer-reflexive candidates can exist; a relay would mean an intermediary.
      const direct = pair && pair.local && pair.remote && pair.local !== 'relay' && pair.remote !== 'relay';
      return held(Boolean(direct) && echo === 'echo:ping', `no ICE servers configured; selected pair ${pair ? `${pair.local}↔${pair.remote}` : 'unknown'}, data echo ${echo}`);
    }),
    instanceNegotiatesMediaAndData: prefixed(async (Ctor) => {
      const pc = make(Ctor);
      pc.addTransceiver('audio');
      pc.addTransceiver('video');
      pc.createDataChannel('d');
      const offer = await pc.createOffer();
      const m = [...offer.sdp.matchAll(/^m=(\w+)/gm)].map((x) => x[1]);
      const ok = pc instanceof RTCPeerConnection && ['audio', 'video', 'application'].every((k) => m.includes(k));
      return held(ok, `instanceof RTCPeerConnection: ${pc instanceof RTCPeerConnection}; offer m-lines: ${m.join(', ')}`);
    }),
    configurationOptional: prefixed(async (Ctor) => {
      make(Ctor);
      make(Ctor, undefined);
      return held(true, 'constructed with no argument');
    }),
    configurationIceServers: prefixed(async (Ctor, lab) => {
      const iceServers = [...lab.stun, ...lab.turn];
      const pc = make(Ctor, { iceServers });
      const urls = pc.getConfiguration().iceServers.flatMap((s) => [].concat(s.urls));
      const { cands } = await gather(pc);
      const types = [...new Set(cands.map(candType))].sort();
      const ok = iceServers.every((s) => urls.includes(s.urls)) && types.includes('srflx') && types.includes('relay');
      return held(ok, `getConfiguration().iceServers: ${urls.join(' ')}; gathered candidate types: ${types.join(', ')} (srflx from the STUN server, relay from the TURN server)`);
    }),
    exampleConfiguration: prefixed(async (Ctor) => {
      const configuration = { iceServers: [{ urls: 'stun:stun.l.google.com:19302' }] };
      const pc = make(Ctor, configuration);
      const urls = pc.getConfiguration().iceServers.flatMap((s) => [].concat(s.urls));
      return held(urls.includes('stun:stun.l.google.com:19302'), `accepted; getConfiguration().iceServers urls: ${urls.join(' ')}`);
    }),
    createOffer: prefixed(async (Ctor) => {
      const offer = await make(Ctor).createOffer();
      return held(offer.type === 'offer' && /^v=0\r?\n/.test(offer.sdp), `type ${offer.type}, sdp starts ${JSON.stringify(offer.sdp.slice(0, 12))}`);
    }),
    createAnswer: prefixed(async (Ctor) => {
      const a = make(Ctor), b = make(Ctor);
      a.createDataChannel('d');
      await b.setRemoteDescription(await a.createOffer());
      const answer = await b.createAnswer();
      return held(answer.type === 'answer' && /^v=0\r?\n/.test(answer.sdp), `after setRemoteDescription(offer): type ${answer.type}`);
    }),
    setLocalDescription: prefixed(async (Ctor) => {
      const pc = make(Ctor);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return held(pc.localDescription?.type === 'offer' && pc.signalingState === 'have-local-offer', `localDescription.type ${pc.localDescription?.type}, signalingState ${pc.signalingState}`);
    }),
    setRemoteDescription: prefixed(async (Ctor) => {
      const a = make(Ctor), b = make(Ctor);
      a.createDataChannel('d');
      await b.setRemoteDescription(await a.createOffer());
      return held(b.remoteDescription?.type === 'offer' && b.signalingState === 'have-remote-offer', `remoteDescription.type ${b.remoteDescription?.type}, signalingState ${b.signalingState}`);
    }),
    addIceCandidate: prefixed(async (Ctor) => {
      const a = make(Ctor), b = make(Ctor);
      const { cands } = await gather(a);
      await b.setRemoteDescription(a.localDescription);
      const c = cands[0];
      if (!c) return held(false, 'no candidate gathered to add');
      await b.addIceCandidate(c);
      const inSdp = b.remoteDescription.sdp.includes(c.candidate.replace(/^candidate:/, ''));
      return held(true, `addIceCandidate(${c.candidate.split(' ').slice(4, 8).join(' ')}) resolved; in remoteDescription.sdp: ${inSdp}`);
    }),
    icecandidateEvent: prefixed(async (Ctor) => {
      const pc = make(Ctor);
      const { cands } = await gather(pc);
      return held(cands.length > 0, `${cands.length} icecandidate events with a candidate (types ${[...new Set(cands.map(candType))].join(', ')})`);
    }),
    iceconnectionstatechangeEvent: prefixed(async (Ctor) => {
      const seen = [];
      const P = class extends Ctor { constructor(c) { super(c); this.addEventListener('iceconnectionstatechange', () => seen.push(this.iceConnectionState)); } };
      await connectedPair(P);
      return held(seen.length > 0, `fired ${seen.length} times: ${seen.join(' → ')}`);
    }),
    trackEvent: prefixed(async (Ctor) => {
      const a = make(Ctor), b = make(Ctor);
      let local = 0, remote = 0;
      a.ontrack = () => local++;
      b.ontrack = () => remote++;
      const stream = await gum({ audio: true });
      a.addTrack(stream.getTracks()[0], stream);
      await sleep(100);
      const localAfterAddTrack = local;
      await negotiate(a, b);
      await sleep(100);
      return held(remote > 0, `on the receiving connection after negotiation: ${remote} track event(s); on the connection where addTrack was called: ${localAfterAddTrack} (the event belongs to the remote side)`);
    }),
    webkitSpecific: async (engine) => {
      const defined = typeof window.webkitRTCPeerConnection === 'function';
      const webkitBased = engine === 'webkit';
      return held(defined === webkitBased, `${engine} is ${webkitBased ? '' : 'not '}WebKit-based; webkitRTCPeerConnection ${defined ? 'defined' : 'not defined'}`);
    },
    standardAvailable: async () => {
      const ok = typeof RTCPeerConnection === 'function';
      if (ok) await make(RTCPeerConnection).createOffer();
      return held(ok, ok ? 'RTCPeerConnection is defined and creates offers' : 'RTCPeerConnection is not defined');
    },
    signalingRequired: async () => {
      // Without the candidate exchange (descriptions taken before any candidate exists)…
      const a = make(RTCPeerConnection), b = make(RTCPeerConnection);
      a.createDataChannel('d');
      const offer = await a.createOffer();
      await b.setRemoteDescription(offer);
      const answer = await b.createAnswer();
      await a.setLocalDescription(offer);
      await b.setLocalDescription(answer);
      await a.setRemoteDescription(answer);
      await sleep(2000);
      const without = a.connectionState;
      // …and with it, as a control that the pair can connect at all.
      const withIt = await connectedPair(RTCPeerConnection).then(() => 'connected', (e) => `not connected (${e.message})`);
      return held(without !== 'connected' && withIt === 'connected', `SDP without candidates: ${without} after 2 s; with candidates relayed: ${withIt}`);
    },
    stillSupported: prefixed(async (Ctor) => {
      const pc = make(Ctor);
      await pc.setLocalDescription(await pc.createOffer());
      return held(pc.signalingState === 'have-local-offer', `constructed; createOffer + setLocalDescription → ${pc.signalingState}`);
    }),
  };

  // ---- configuration validation: the exception name (or 'ok') --------------------------------

  const ctorOutcome = (config) => outcome(() => make(RTCPeerConnection, config));
  const cert = (alg) => RTCPeerConnection.generateCertificate(alg);
  const config = {
    prefix: async (name) => {
      const P = window[name];
      return typeof P !== 'function' ? 'undefined' : P === RTCPeerConnection ? 'alias of RTCPeerConnection' : 'distinct constructor';
    },
    construct: async (cfg) => ctorOutcome(cfg),
    setConfigurationBundleChange: async () => {
      const pc = make(RTCPeerConnection, { bundlePolicy: 'balanced' });
      return outcome(() => pc.setConfiguration({ bundlePolicy: 'max-compat' }));
    },
    setConfigurationAfterClose: async () => {
      const pc = make(RTCPeerConnection);
      pc.close();
      return outcome(() => pc.setConfiguration({}));
    },
    certificateEcdsa: async () => outcome(async () => make(RTCPeerConnection, { certificates: [await cert({ name: 'ECDSA', namedCurve: 'P-256' })] })),
    certificateRsa: async () =>
      outcome(async () => make(RTCPeerConnection, { certificates: [await cert({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' })] })),
    certificateUnsupportedAlgorithm: async () => outcome(() => cert({ name: 'AES-GCM', length: 128 })),
    certificateExpired: async () => {
      const c = await cert({ name: 'ECDSA', namedCurve: 'P-256', expires: 1 });
      await sleep(50);
      return outcome(() => make(RTCPeerConnection, { certificates: [c] }));
    },
    certificateChanged: async () => {
      const [c1, c2] = await Promise.all([cert({ name: 'ECDSA', namedCurve: 'P-256' }), cert({ name: 'ECDSA', namedCurve: 'P-256' })]);
      const pc = make(RTCPeerConnection, { certificates: [c1] });
      return outcome(() => pc.setConfiguration({ certificates: [c2] }));
    },
  };

  // ---- the offer/answer state machine ---------------------------------------------------------

  const pcWithOffer = async () => {
    const a = make(RTCPeerConnection);
    a.createDataChannel('d');
    return { a, offer: await a.createOffer() };
  };
  const state = {
    signalingOfferer: async () => {
      const a = make(RTCPeerConnection), b = make(RTCPeerConnection);
      const seen = [];
      a.onsignalingstatechange = () => seen.push(a.signalingState);
      a.createDataChannel('d');
      await negotiate(a, b);
      return seen.join('>');
    },
    signalingAnswerer: async () => {
      const a = make(RTCPeerConnection), b = make(RTCPeerConnection);
      const seen = [];
      b.onsignalingstatechange = () => seen.push(b.signalingState);
      a.createDataChannel('d');
      await negotiate(a, b);
      return seen.join('>');
    },
    answerInStable: async () => {
      const { offer } = await pcWithOffer();
      const b = make(RTCPeerConnection), c = make(RTCPeerConnection);
      await b.setRemoteDescription(offer);
      const answer = await b.createAnswer();
      return outcome(() => c.setRemoteDescription(answer));
    },
    createAnswerInStable: async () => outcome(() => make(RTCPeerConnection).createAnswer()),
    localAnswerInStable: async () => outcome(() => make(RTCPeerConnection).setLocalDescription({ type: 'answer' })),
    offerInHaveLocalOffer: async () => {
      // A remote offer while our own is pending (glare) without rollback.
      const { a } = await pcWithOffer();
      await a.setLocalDescription();
      const { offer } = await pcWithOffer();
      return outcome(() => a.setRemoteDescription(offer));
    },
    afterClose: async () => {
      const pc = make(RTCPeerConnection);
      pc.close();
      const ops = {
        createOffer: () => pc.createOffer(),
        createDataChannel: () => pc.createDataChannel('x'),
        addTransceiver: () => pc.addTransceiver('audio'),
        setRemoteDescription: async () => pc.setRemoteDescription((await pcWithOffer()).offer),
      };
      const out = [];
      for (const [k, fn] of Object.entries(ops)) out.push(`${k}:${await outcome(fn)}`);
      return out.join(' ');
    },
    rollbackLocal: async () => {
      const { a } = await pcWithOffer();
      await a.setLocalDescription();
      await a.setLocalDescription({ type: 'rollback' });
      return `${a.signalingState} local=${a.localDescription === null ? 'null' : a.localDescription.type}`;
    },
    rollbackRemote: async () => {
      const { offer } = await pcWithOffer();
      const b = make(RTCPeerConnection);
      await b.setRemoteDescription(offer);
      await b.setRemoteDescription({ type: 'rollback' });
      return `${b.signalingState} remote=${b.remoteDescription === null ? 'null' : b.remoteDescription.type}`;
    },
    rollbackInStable: async () => outcome(() => make(RTCPeerConnection).setLocalDescription({ type: 'rollback' })),
    negotiationNeededCoalesced: async () => {
      const pc = make(RTCPeerConnection);
      let n = 0;
      pc.onnegotiationneeded = () => n++;
      pc.createDataChannel('d');
      pc.addTransceiver('audio');
      pc.addTransceiver('video');
      await sleep(300);
      return `fired ${n}`;
    },
    negotiationNeededSecondChannel: async () => {
      const a = make(RTCPeerConnection), b = make(RTCPeerConnection);
      a.createDataChannel('d1');
      await negotiate(a, b);
      let n = 0;
      a.onnegotiationneeded = () => n++;
      a.createDataChannel('d2');
      // Separate tasks, so an event for the channel cannot merge with the transceiver's.
      await sleep(300);
      const afterChannel = n;
      a.addTransceiver('audio');
      await sleep(300);
      // A data channel after the first needs no renegotiation (one SCTP association); a transceiver does.
      return `fired ${afterChannel} after the second channel, ${n - afterChannel} after the transceiver`;
    },
    gatheringEnd: async () => {
      const pc = make(RTCPeerConnection);
      const { events, cands } = await gather(pc);
      // The tail after the last real candidate: the end-of-candidates signals in order.
      const tail = events.slice(events.lastIndexOf('candidate') + 1);
      const states = events.filter((e) => e.startsWith('state:')).map((e) => e.slice(6));
      return { observed: `states ${states.join('>')}; end ${tail.join('>')}`, detail: `${cands.length} candidates; all events: ${events.join(' ')}` };
    },
    addCandidateBeforeRemote: async () => {
      const { a } = await pcWithOffer();
      const { cands } = await gather(a);
      const b = make(RTCPeerConnection);
      return outcome(() => b.addIceCandidate(cands[0]));
    },
    addCandidateErrors: async () => {
      const a = make(RTCPeerConnection), b = make(RTCPeerConnection);
      const { cands } = await gather(a);
      await b.setRemoteDescription(a.localDescription);
      const c = cands[0];
      const cases = {
        'no-mid-no-index': () => b.addIceCandidate({ candidate: c.candidate }),
        'unknown-mid': () => b.addIceCandidate({ candidate: c.candidate, sdpMid: 'no-such-mid' }),
        'index-out-of-range': () => b.addIceCandidate({ candidate: c.candidate, sdpMLineIndex: 99 }),
        malformed: () => b.addIceCandidate({ candidate: 'candidate:this is not a candidate', sdpMid: c.sdpMid }),
        'wrong-ufrag': () => b.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, usernameFragment: 'nosuchufrag' }),
        'end-of-candidates': () => b.addIceCandidate({ candidate: '', sdpMid: c.sdpMid }),
      };
      const out = [];
      for (const [k, fn] of Object.entries(cases)) out.push(`${k}:${await outcome(fn)}`);
      return out.join(' ');
    },
    closeSemantics: async () => {
      const { a, dc } = await connectedPair(RTCPeerConnection, { media: ['audio'] });
      const fired = [];
      for (const ev of ['signalingstatechange', 'connectionstatechange', 'iceconnectionstatechange', 'icegatheringstatechange', 'negotiationneeded']) a.addEventListener(ev, () => fired.push(ev));
      dc.onclose = () => fired.push('datachannel-close');
      a.close();
      const again = await outcome(() => a.close());
      await sleep(200);
      const tr = a.getTransceivers()[0];
      return {
        observed: `signaling=${a.signalingState} connection=${a.connectionState} ice=${a.iceConnectionState} pc-events=${fired.filter((e) => e !== 'datachannel-close').join(',') || 'none'} channel=${dc.readyState} transceiver=${tr ? tr.currentDirection : 'none'} second-close=${again}`,
        detail: `events after close(): ${fired.join(', ') || 'none'}`,
      };
    },
    connectionVsIce: async () => {
      const conn = [], ice = [], order = [];
      let made = 0;
      // Watch the offerer (the first one constructed) from its first state change on.
      const P = class extends RTCPeerConnection {
        constructor(c) { super(c); if (made++ === 0) { this.onconnectionstatechange = () => { conn.push(this.connectionState); order.push(`pc:${this.connectionState}`); }; this.oniceconnectionstatechange = () => { ice.push(this.iceConnectionState); order.push(`ice:${this.iceConnectionState}`); }; } }
      };
      await connectedPair(P);
      // connectionState aggregates ICE and DTLS: it may only say connected once ICE does.
      const iceUp = order.findIndex((e) => e === 'ice:connected' || e === 'ice:completed');
      const pcUp = order.indexOf('pc:connected');
      const iceFirst = iceUp >= 0 && pcUp >= 0 && iceUp < pcUp;
      const seqIce = ice.filter((s) => s !== 'completed');
      return { observed: `connection ${conn.join('>')}; ice ${seqIce.join('>')}; ice connected by then: ${iceFirst}`, detail: `events in order: ${order.join(' ')}` };
    },
    statsMandatory: async (required) => {
      const { a, b, dc, remoteDc } = await connectedPair(RTCPeerConnection, { media: ['audio'] });
      await dataEcho(dc, remoteDc);
      let stats = [];
      for (let i = 0; i < 30; i++) {
        stats = [...(await statsOf(a)), ...(await statsOf(b))];
        if (stats.some((s) => s.type === 'inbound-rtp' && s.packetsReceived > 0) && stats.some((s) => s.type === 'candidate-pair' && s.currentRoundTripTime !== undefined)) break;
        await sleep(200);
      }
      const types = [...new Set(stats.map((s) => s.type))].sort();
      const missing = [];
      for (const [type, members] of Object.entries(required)) {
        const ofType = stats.filter((s) => s.type === type);
        if (!ofType.length) { missing.push(`${type} (no such stats)`); continue; }
        for (const m of members) if (!ofType.some((s) => s[m] !== undefined)) missing.push(`${type}.${m}`);
      }
      return { observed: missing.length ? `missing ${missing.join(', ')}` : 'none missing', detail: `stats types seen: ${types.join(', ')}` };
    },
    canTrickle: async () => {
      const { a, offer } = await pcWithOffer();
      void a;
      const b = make(RTCPeerConnection), c = make(RTCPeerConnection);
      const before = b.canTrickleIceCandidates;
      await b.setRemoteDescription(offer);
      const withTrickle = b.canTrickleIceCandidates;
      const sdp = offer.sdp.replace(/^a=ice-options:.*\r\n/gm, '');
      await c.setRemoteDescription({ type: 'offer', sdp });
      return `before=${before} offer-with-trickle=${withTrickle} offer-without=${c.canTrickleIceCandidates}`;
    },
    relayOnly: async (lab) => {
      const pc = make(RTCPeerConnection, { iceServers: [...lab.stun, ...lab.turn], iceTransportPolicy: 'relay' });
      const { cands } = await gather(pc);
      const types = [...new Set(cands.map(candType))].sort();
      const addrs = [...new Set(cands.map((c) => c.address ?? c.candidate.split(' ')[4]))];
      return { observed: `types ${types.join(',') || 'none'}`, detail: `${cands.length} candidates from ${addrs.join(', ')} (TURN server ${lab.turnIp})` };
    },
  };

  const groups = { claims, config, state };
  window.icelabApi = {
    async run(group, name, arg) {
      open = [];
      streams = [];
      try {
        const r = await timeout(groups[group][name](arg), 30000, `${group}.${name}`);
        return typeof r === 'string' ? { observed: r, detail: '' } : r;
      } finally {
        for (const pc of open) pc.close();
        for (const s of streams) s.getTracks().forEach((t) => t.stop());
        open = [];
        streams = [];
      }
    },
  };
})();
