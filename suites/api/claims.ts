/**
 * Every factual claim of the seed guide (../shared/seed/000_1234d4fb20770932.txt), as data. Each
 * becomes one test per engine: the check observes 'true' when the claim holds in that engine;
 * the guide says every claim holds, so 'true' is what the gate expects and a false claim is a
 * listed deviation (suites/expectations.yaml, section "# api: seed guide claims").
 *
 * Not claims about what an engine does, so not tested: line 13 "essential for applications such
 * as video conferencing…" (an opinion), line 16 "typically utilized in conjunction with signaling
 * servers" (a usage habit; line 78 makes the testable version), line 82 "developers are
 * encouraged to use the standardized RTCPeerConnection" and line 83 "always check … using feature
 * detection" (advice), line 86 (the summary repeats line 9, tested as `audio-video-data`).
 */
export const SEED_FILE = '000_1234d4fb20770932.txt';
const src = (line: number): string => `seed/${SEED_FILE}:${line}`;

export type ClaimCheck =
  /** A check in suites/api/page-kit.js (group "claims"). */
  | { kind: 'page'; name: string; arg?: 'lab' | 'engine'; host?: string }
  /** The guide's own example, run as written in a fresh page. */
  | { kind: 'example'; expect: 'runs' | 'logs-candidates' }
  /** A lab call between two browsers of the engine, behind NATs. */
  | { kind: 'nat' };

export interface Claim {
  id: string;
  /** The guide's words, quoted or closely paraphrased. */
  claim: string;
  source: string;
  check: ClaimCheck;
  /** How the check decides, for the report. */
  how: string;
}

/** The guide's basic usage example (lines 51-72), verbatim. */
export const GUIDE_EXAMPLE = `const peerConnection = new webkitRTCPeerConnection({
  iceServers: [{ urls: 'stun:stun.l.google.com:19302' }]
});

// Handle new ICE candidates
peerConnection.onicecandidate = (event) => {
  if (event.candidate) {
    console.log('New ICE candidate:', event.candidate);
  }
};

// Create an offer
peerConnection.createOffer()
  .then(offer => {
    return peerConnection.setLocalDescription(offer);
  })
  .then(() => {
    console.log('Local description set successfully.');
  })
  .catch(error => {
    console.error('Error creating offer:', error);
  });`;

export const CLAIMS: readonly Claim[] = [
  { id: 'prefixed-defined', claim: '`webkitRTCPeerConnection` is a JavaScript interface', source: src(9), check: { kind: 'page', name: 'prefixedDefined' }, how: 'typeof webkitRTCPeerConnection is "function"' },
  { id: 'prefixed-is-standard', claim: 'It is a vendor-prefixed version of the `RTCPeerConnection` API', source: src(9), check: { kind: 'page', name: 'prefixedIsStandard' }, how: 'webkitRTCPeerConnection === RTCPeerConnection' },
  {
    id: 'audio-video-data',
    claim: 'It facilitates real-time peer-to-peer connections for audio, video, and data sharing',
    source: src(9),
    check: { kind: 'page', name: 'audioVideoData' },
    how: 'two peers made with it connect; RTP packets of a fake camera and microphone arrive and a data channel echoes',
  },
  {
    id: 'direct-without-server',
    claim: 'It establishes a direct connection between two peers without the need for an intermediary server',
    source: src(13),
    check: { kind: 'page', name: 'directWithoutServer' },
    how: 'with no ICE servers two peers connect over a pair without a relay (host or peer-reflexive) and exchange data',
  },
  {
    id: 'instance-negotiates-media-and-data',
    claim: 'It creates a new peer connection instance, which can handle the negotiation of media and data channels',
    source: src(16),
    check: { kind: 'page', name: 'instanceNegotiatesMediaAndData' },
    how: 'new webkitRTCPeerConnection() is an RTCPeerConnection whose offer has audio, video and application m-lines',
  },
  { id: 'configuration-optional', claim: '`new webkitRTCPeerConnection(configuration)`: `configuration` is optional', source: src(24), check: { kind: 'page', name: 'configurationOptional' }, how: 'the constructor accepts no argument' },
  {
    id: 'configuration-ice-servers',
    claim: 'The configuration can include `iceServers`, an array of ICE server configurations (STUN/TURN servers)',
    source: src(25),
    // Behind a NAT, so the STUN server's answer differs from the host address and shows up as srflx.
    check: { kind: 'page', name: 'configurationIceServers', arg: 'lab', host: 'symmetric' },
    how: "the lab's STUN and TURN servers are accepted, reported by getConfiguration() and used: a page behind a NAT gathers srflx and relay candidates",
  },
  {
    id: 'example-configuration',
    claim: "Example configuration `{ iceServers: [{ urls: 'stun:stun.l.google.com:19302' }] }`",
    source: src(29),
    check: { kind: 'page', name: 'exampleConfiguration' },
    how: 'the constructor accepts it and getConfiguration() reports the URL',
  },
  { id: 'method-create-offer', claim: '`createOffer()` creates an SDP offer', source: src(35), check: { kind: 'page', name: 'createOffer' }, how: 'resolves to { type: "offer", sdp: "v=0…" }' },
  { id: 'method-create-answer', claim: '`createAnswer()` creates an SDP answer in response to an offer', source: src(36), check: { kind: 'page', name: 'createAnswer' }, how: 'after setRemoteDescription(offer) it resolves to type "answer"' },
  { id: 'method-set-local-description', claim: '`setLocalDescription()` sets the local SDP description', source: src(37), check: { kind: 'page', name: 'setLocalDescription' }, how: 'localDescription becomes the offer, signalingState have-local-offer' },
  { id: 'method-set-remote-description', claim: '`setRemoteDescription()` sets the remote SDP description', source: src(38), check: { kind: 'page', name: 'setRemoteDescription' }, how: 'remoteDescription becomes the offer, signalingState have-remote-offer' },
  { id: 'method-add-ice-candidate', claim: '`addIceCandidate()` adds an ICE candidate to the connection', source: src(39), check: { kind: 'page', name: 'addIceCandidate' }, how: "a candidate gathered by another peer is added after its offer" },
  { id: 'event-icecandidate', claim: '`icecandidate`: fired when a new ICE candidate is found', source: src(43), check: { kind: 'page', name: 'icecandidateEvent' }, how: 'at least one icecandidate event with a candidate after setLocalDescription' },
  { id: 'event-iceconnectionstatechange', claim: '`iceconnectionstatechange`: fired when the ICE connection state changes', source: src(44), check: { kind: 'page', name: 'iceconnectionstatechangeEvent' }, how: 'fires while two peers connect' },
  {
    id: 'event-track',
    claim: '`track`: fired when a new track is added to the connection',
    source: src(45),
    check: { kind: 'page', name: 'trackEvent' },
    how: 'fires on the connection that receives a new remote track (the detail also says whether addTrack fires it locally)',
  },
  {
    id: 'example-runs',
    claim: 'The basic usage example creates a peer connection, creates an offer and sets it locally',
    source: src(51),
    check: { kind: 'example', expect: 'runs' },
    how: 'the example, run as written, logs "Local description set successfully." and no error',
  },
  {
    id: 'example-logs-candidates',
    claim: 'The basic usage example handles ICE candidates (logs each new candidate)',
    source: src(56),
    check: { kind: 'example', expect: 'logs-candidates' },
    how: 'the example, run as written, logs "New ICE candidate:" at least once within 2 s of setting the offer',
  },
  {
    id: 'webkit-specific',
    claim: '`webkitRTCPeerConnection` is specific to WebKit-based browsers (e.g., Safari)',
    source: src(77),
    check: { kind: 'page', name: 'webkitSpecific', arg: 'engine' },
    how: 'defined exactly in the WebKit engine',
  },
  { id: 'standard-available', claim: 'For broader compatibility, the standard `RTCPeerConnection` can be used instead', source: src(77), check: { kind: 'page', name: 'standardAvailable' }, how: 'RTCPeerConnection is defined and creates offers' },
  {
    id: 'signaling-required',
    claim: 'Signaling (exchange of SDP and ICE candidates) is crucial; without it peers cannot communicate',
    source: src(78),
    check: { kind: 'page', name: 'signalingRequired' },
    how: 'descriptions exchanged without candidates do not connect in 2 s (a local pair connects in well under 1 s); the same peers with candidates relayed do',
  },
  {
    id: 'nat-needs-turn',
    claim: 'Firewalls and NAT can impede the connection; correctly configured STUN/TURN servers handle it',
    source: src(79),
    check: { kind: 'nat' },
    how: 'two browsers of the engine behind symmetric NATs: STUN only does not connect, with TURN/UDP it does',
  },
  { id: 'still-supported', claim: '`webkitRTCPeerConnection` is still supported', source: src(82), check: { kind: 'page', name: 'stillSupported' }, how: 'constructs, creates an offer and sets it locally' },
];
