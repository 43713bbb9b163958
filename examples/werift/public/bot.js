// Calls the server's werift peer: one offer with every candidate in it (no trickle), one answer.
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').value = text; };

async function call() {
  $('call').disabled = true;
  const { iceServers } = await (await fetch('/config')).json();
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  $('local').srcObject = stream;
  const pc = new RTCPeerConnection({ iceServers });
  pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendrecv', streams: [stream] });
  pc.ontrack = (e) => { $('echo').srcObject = new MediaStream([e.track]); };
  pc.onconnectionstatechange = () => status(pc.connectionState);
  status('gathering');
  await pc.setLocalDescription();
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
  });
  status('calling');
  const res = await fetch('/offer', { method: 'POST', body: JSON.stringify(pc.localDescription) });
  if (!res.ok) throw new Error(`the bot answered ${res.status}: ${await res.text()}`);
  await pc.setRemoteDescription(await res.json());
}

$('call').onclick = () => call().catch((e) => status(`error: ${e.message}`));
