// PeerJS as its documentation shows it. `?room=r&me=n`: this page is peer `r-n`; peer 0 answers,
// every other peer calls `r-0` with its camera and microphone.
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').value = text; };
const params = new URLSearchParams(location.search);
const room = params.get('room') ?? 'demo';
const me = Number(params.get('me') ?? 0);

const { iceServers } = await (await fetch('/config')).json();
const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
$('local').srcObject = stream;
const peer = new Peer(`${room}-${me}`, {
  host: location.hostname, port: Number(location.port || (location.protocol === 'https:' ? 443 : 80)),
  secure: location.protocol === 'https:', path: '/peerjs',
  config: { iceServers },
});
peer.on('error', (e) => status(`error: ${e.type}`));
// Pages open in any order. Calling a peer that has not registered yet fails (peer-unavailable)
// after PeerJS made a peer connection for it, so wait until the server lists peer 0 (discovery).
const registered = async (id) => {
  for (;;) {
    const ids = await (await fetch('/peerjs/peerjs/peers')).json();
    if (ids.includes(id)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
};
const callFirst = async () => {
  status(`waiting for ${room}-0`);
  await registered(`${room}-0`);
  status(`calling ${room}-0`);
  show(peer.call(`${room}-0`, stream));
};
const show = (call) => {
  call.on('stream', (remote) => { $('remote').srcObject = remote; status('in call'); });
  call.on('close', () => status('ended'));
};
peer.on('open', (id) => {
  $('me').value = id;
  if (me === 0) {
    status('waiting for a call');
    return peer.on('call', (call) => { call.answer(stream); show(call); });
  }
  callFirst().catch((e) => status(`error: ${e.message}`));
});
