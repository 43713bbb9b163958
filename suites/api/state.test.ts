import * as allure from 'allure-js-commons';
import { gate, suiteEngines } from '../support/fixture.ts';
import { API_PAGES, labServers, openApi, runCheck } from './api-page.ts';

/**
 * The offer/answer state machine and its neighbours, against the WebRTC spec
 * (w3c.github.io/webrtc-pc) and webrtc-stats. Each case's observation is a short string built by
 * a check in page-kit.js (group "state"); `spec` is that string as the spec says it should read.
 */
interface StateCase {
  id: string;
  title: string;
  check: string;
  arg?: 'lab' | 'stats';
  spec: string;
  why: string;
}

/**
 * The members webrtc-stats lists as mandatory to implement, for the stats a call with one data
 * channel and one audio track produces. Members that depend on the path (a candidate's url needs
 * a server, remote-inbound-rtp needs an RTCP report) are left out so the check cannot flake.
 */
export const MANDATORY_STATS: Record<string, readonly string[]> = {
  'peer-connection': ['dataChannelsOpened', 'dataChannelsClosed'],
  transport: ['bytesSent', 'bytesReceived', 'selectedCandidatePairId', 'localCertificateId', 'remoteCertificateId'],
  'candidate-pair': ['transportId', 'localCandidateId', 'remoteCandidateId', 'state', 'nominated', 'bytesSent', 'bytesReceived', 'totalRoundTripTime', 'currentRoundTripTime', 'responsesReceived'],
  'local-candidate': ['address', 'port', 'protocol', 'candidateType'],
  'remote-candidate': ['address', 'port', 'protocol', 'candidateType'],
  certificate: ['fingerprint', 'fingerprintAlgorithm', 'base64Certificate'],
  codec: ['payloadType', 'mimeType', 'clockRate'],
  'data-channel': ['label', 'protocol', 'dataChannelIdentifier', 'state', 'messagesSent', 'bytesSent', 'messagesReceived', 'bytesReceived'],
  'outbound-rtp': ['ssrc', 'kind', 'transportId', 'codecId', 'packetsSent', 'bytesSent'],
  'inbound-rtp': ['ssrc', 'kind', 'transportId', 'codecId', 'packetsReceived', 'packetsLost', 'jitter', 'bytesReceived'],
};

const after4 = (op: string) => `${op}:InvalidStateError`;

export const STATE_CASES: readonly StateCase[] = [
  { id: 'signaling-offerer', title: 'signalingState of the offerer', check: 'signalingOfferer', spec: 'have-local-offer>stable', why: 'setLocalDescription(offer) → have-local-offer; setRemoteDescription(answer) → stable' },
  { id: 'signaling-answerer', title: 'signalingState of the answerer', check: 'signalingAnswerer', spec: 'have-remote-offer>stable', why: 'setRemoteDescription(offer) → have-remote-offer; setLocalDescription(answer) → stable' },
  { id: 'remote-answer-in-stable', title: 'setRemoteDescription(answer) in stable', check: 'answerInStable', spec: 'InvalidStateError', why: 'an answer is only valid in have-local-offer or have-remote-pranswer' },
  { id: 'create-answer-in-stable', title: 'createAnswer() in stable', check: 'createAnswerInStable', spec: 'InvalidStateError', why: 'createAnswer needs have-remote-offer or have-local-pranswer' },
  { id: 'local-answer-in-stable', title: "setLocalDescription({type:'answer'}) in stable", check: 'localAnswerInStable', spec: 'InvalidStateError', why: 'an answer is only valid in have-remote-offer or have-local-pranswer' },
  { id: 'remote-offer-in-have-local-offer', title: 'remote offer while a local offer is pending (glare)', check: 'offerInHaveLocalOffer', spec: 'ok', why: 'since perfect negotiation, setRemoteDescription(offer) in have-local-offer rolls the local offer back implicitly' },
  {
    id: 'after-close',
    title: 'operations after close()',
    check: 'afterClose',
    spec: ['createOffer', 'createDataChannel', 'addTransceiver', 'setRemoteDescription'].map(after4).join(' '),
    why: '[[IsClosed]] is true: every operation throws or rejects with InvalidStateError',
  },
  { id: 'rollback-local', title: 'rollback of a local offer', check: 'rollbackLocal', spec: 'stable local=null', why: 'rollback returns to stable and discards the pending local description' },
  { id: 'rollback-remote', title: 'rollback of a remote offer', check: 'rollbackRemote', spec: 'stable remote=null', why: 'rollback returns to stable and discards the pending remote description' },
  { id: 'rollback-in-stable', title: 'rollback in stable', check: 'rollbackInStable', spec: 'InvalidStateError', why: 'rollback is invalid in stable' },
  { id: 'negotiationneeded-coalesced', title: 'negotiationneeded for three changes in one task', check: 'negotiationNeededCoalesced', spec: 'fired 1', why: 'the negotiation-needed flag is checked in a queued task: one event' },
  {
    id: 'negotiationneeded-after-negotiation',
    title: 'negotiationneeded after negotiation: a second data channel and a transceiver',
    check: 'negotiationNeededSecondChannel',
    spec: 'fired 0 after the second channel, 1 after the transceiver',
    why: 'a second data channel needs no renegotiation (one SCTP association), the new transceiver does',
  },
  {
    id: 'gathering-end-of-candidates',
    title: 'icegatheringstatechange and the end-of-candidates signals',
    check: 'gatheringEnd',
    spec: 'states gathering>complete; end empty-candidate>state:complete>null-candidate',
    why: 'gathering finished: an icecandidate with candidate "" per transport, then icegatheringstatechange to complete, then icecandidate with a null candidate',
  },
  { id: 'add-candidate-before-remote', title: 'addIceCandidate before a remote description', check: 'addCandidateBeforeRemote', spec: 'InvalidStateError', why: 'remoteDescription is null' },
  {
    id: 'add-candidate-errors',
    title: 'addIceCandidate with bad candidates',
    check: 'addCandidateErrors',
    spec: 'no-mid-no-index:TypeError unknown-mid:OperationError index-out-of-range:OperationError malformed:OperationError wrong-ufrag:OperationError end-of-candidates:ok',
    why: 'sdpMid and sdpMLineIndex both null → TypeError; no matching media description, unparsable candidate or unknown ufrag → OperationError; an empty candidate is end-of-candidates',
  },
  {
    id: 'close-semantics',
    title: 'close() of a connected peer connection',
    check: 'closeSemantics',
    spec: 'signaling=closed connection=closed ice=closed pc-events=none channel=closed transceiver=stopped second-close=ok',
    why: 'close sets every state to closed without firing state events, closes data channels, stops transceivers; a second close does nothing',
  },
  {
    id: 'connection-vs-ice-state',
    title: 'connectionState vs iceConnectionState while connecting',
    check: 'connectionVsIce',
    spec: 'connection connecting>connected; ice checking>connected; ice connected by then: true',
    why: 'connectionState aggregates ICE and DTLS, so it reaches connected after ICE does (completed is also a valid ICE end state and is left out)',
  },
  { id: 'stats-mandatory', title: 'getStats mandatory members', check: 'statsMandatory', arg: 'stats', spec: 'none missing', why: 'webrtc-stats "mandatory to implement" members for a data channel + audio call' },
  { id: 'can-trickle', title: 'canTrickleIceCandidates', check: 'canTrickle', spec: 'before=null offer-with-trickle=true offer-without=false', why: 'null until a remote description is set; then whether it has a=ice-options:trickle' },
  { id: 'relay-policy-gathers-relay-only', title: "iceTransportPolicy 'relay' with the lab's STUN and TURN servers", check: 'relayOnly', arg: 'lab', spec: 'types relay', why: 'with relay policy the ICE agent only uses relay candidates' },
];

describe('api: offer/answer state machine', function () {

  for (const c of STATE_CASES) {
    describe(c.title, function () {
      for (const engine of suiteEngines()) {
        it(engine, async function () {
          await allure.subSuite(c.id);
          await allure.description(`Spec: \`${c.spec}\` — ${c.why}.`);
          const { page, version } = await openApi(this, API_PAGES, 'state machine', engine);
          const arg = c.arg === 'lab' ? await labServers() : c.arg === 'stats' ? MANDATORY_STATS : undefined;
          const o = await runCheck(page, 'state', c.check, arg);
          if (o.detail) await allure.logStep(o.detail);
          await gate(`api/state/${c.id}`, [{ engine, version }], o.observed, c.spec, c.why);
        });
      }
    });
  }
});
