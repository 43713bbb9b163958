// Reading ICE candidate pairs from getStats, shared by the two in-page scripts that do it: the peer
// agent (lab/scenario/peer-agent.js) and the app recorder (lab/app/recorder.js). Plain browser
// JavaScript, prepended to each script inside one block, so nothing reaches the page's globals.
// Each script passes its own clock.
const icelabIceStats = (now) => {
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
  return { candidateOf, selectedOf, snapshotOf };
};
