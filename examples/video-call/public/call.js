// A two-party call: camera and microphone to whoever else joins the room named in the URL (?room=).
// The server relays every message to the other member; the member who was there first offers.
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').value = text; };

async function join(room) {
  $('join').disabled = true;
  status('joining');
  const { iceServers } = await (await fetch('/config')).json();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  $('local').srcObject = stream;
  const pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  pc.ontrack = (e) => { $('remote').srcObject = e.streams[0]; };
  pc.onconnectionstatechange = () => status(pc.connectionState);

  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?room=${encodeURIComponent(room)}`);
  const send = (m) => ws.send(JSON.stringify(m));
  pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', candidate: e.candidate }); };
  // Candidates that arrive before the description they belong to wait for it.
  const early = [];
  const describe = async () => { await pc.setLocalDescription(); send({ type: 'description', description: pc.localDescription }); };
  const handle = async (m) => {
    if (m.type === 'peer-joined') await describe();
    if (m.type === 'description') {
      await pc.setRemoteDescription(m.description);
      if (m.description.type === 'offer') await describe();
      for (const c of early.splice(0)) await pc.addIceCandidate(c);
    }
    if (m.type === 'candidate') {
      if (pc.remoteDescription) await pc.addIceCandidate(m.candidate);
      else early.push(m.candidate);
    }
    if (m.type === 'peer-left') status('peer left');
  };
  // One message at a time, in the order sent: a candidate never overtakes its description.
  let handled = Promise.resolve();
  ws.onmessage = ({ data }) => { handled = handled.then(() => handle(JSON.parse(data))).catch((e) => status(`error: ${e.message}`)); };
  ws.onopen = () => status('waiting for the other side');
  ws.onclose = (e) => { if (e.code === 4000) status(`refused: ${e.reason}`); };
}

$('room').value = new URLSearchParams(location.search).get('room') ?? '';
$('join').onclick = () => join($('room').value).catch((e) => status(`error: ${e.message}`));
