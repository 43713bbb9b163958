import { expect } from 'chai';
import { planLoad } from '../cli/load.ts';
import { procNetAddress } from '../turn/coturn.ts';
import { renderChart } from './chart.ts';
import { countAllocations, rxPackets, serverSample } from './server-stats.ts';
import { failuresByCode, lossPct, percentile, verdict, type LoadSample } from './summary.ts';

const T = { maxLossPct: 1, maxConnectP95Ms: 2000 };

describe('load figures', () => {
  it('percentiles are nearest-rank over unsorted values; none gives null', () => {
    const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect([percentile(v, 50), percentile(v, 95), percentile(v, 99), percentile(v, 100)]).to.deep.equal([5, 10, 10, 10]);
    expect(percentile([7], 50)).to.equal(7);
    expect(percentile([], 95)).to.equal(null);
  });

  it('round-trip loss: what did not come back over what was sent; nothing sent is no figure', () => {
    expect(lossPct(200, 199)).to.equal(0.5);
    expect(lossPct(100, 100)).to.equal(0);
    expect(lossPct(0, 0)).to.equal(null);
  });

  it('the verdict names every threshold crossed, and failed calls', () => {
    expect(verdict({ calls: 10, failed: 0, lossPct: 0.2, connectP95Ms: 800 }, T)).to.deep.equal({ pass: true, reasons: [] });
    const v = verdict({ calls: 10, failed: 2, lossPct: 3.5, connectP95Ms: 2500 }, T);
    expect(v.pass).to.equal(false);
    expect(v.reasons).to.deep.equal(['2 of 10 calls did not connect or dropped', 'loss 3.5% > --max-loss 1%', 'connect p95 2500 ms > --max-connect-p95 2000 ms']);
    expect(verdict({ calls: 3, failed: 3, lossPct: null, connectP95Ms: null }, T).reasons).to.include('no call connected');
  });

  it('failures are counted by code', () => {
    expect(failuresByCode([{ failure: '486' }, { failure: null }, { failure: '486' }, { failure: 'timeout' }])).to.deep.equal({ 486: 2, timeout: 1 });
  });
});

describe('TURN server readings from /proc', () => {
  const udp = (rows: [string, number][]) =>
    ['  sl  local_address rem_address   st', ...rows.map(([ip, port], i) => `  ${i}: ${procNetAddress(ip, port)} 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0`)].join('\n');

  it('allocations = UDP sockets on the relay address in the relay port range, not the listeners nor other addresses', () => {
    const table = udp([['198.18.0.2', 3478], ['198.18.0.3', 3478], ['198.18.0.2', 49152], ['198.18.0.2', 65535], ['198.18.0.2', 50000], ['198.18.0.3', 50001], ['198.18.0.2', 49151]]);
    expect(countAllocations(table, '198.18.0.2')).to.equal(3);
  });

  it('received packets are summed over every interface but loopback', () => {
    const dev = ['Inter-|   Receive', ' face |bytes    packets errs', '    lo: 900 90 0 0 0 0 0 0 900 90 0 0 0 0 0 0', '  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0', 'veth1: 500 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0'].join('\n');
    expect(rxPackets(dev)).to.equal(15);
  });

  it('CPU percent is of one core over the time between readings', () => {
    const s = serverSample({ at: 0, cpuS: 1, rssBytes: 0, rxPackets: 100, allocations: 0 }, { at: 2000, cpuS: 2.5, rssBytes: 32 * 2 ** 20, rxPackets: 2100, allocations: 7 });
    expect(s).to.deep.equal({ cpuPct: 75, rssMb: 32, relayedPps: 1000, allocations: 7 });
  });
});

describe('load chart', () => {
  const sample = (t: number, lossPct: number | null): LoadSample => ({
    t, started: 2, connected: 2, failed: 0, failures: {}, connectMs: { p50: 300, p95: 400, p99: 400 }, rttMs: { p50: 2, p95: 5 }, lossPct, skippedPct: null, jitterMs: null, rtpLossPct: null,
    server: { cpuPct: 10, rssMb: 20, relayedPps: 200, allocations: 4 }, background: null, loadAverage: 1.5,
  });

  it('draws no line where nothing was measured: a gap splits a series', () => {
    const svg = renderChart([sample(1, 0.5), sample(2, 0.7), sample(3, null), sample(4, 0.2), sample(5, 0.1)], T, 'test');
    const loss = svg.split('<text x="70" y=').find((p) => p.includes('>loss</text>'))!;
    expect(loss.match(/<polyline[^>]*stroke="#d62828"/g), 'probe loss: two runs around the gap').to.have.length(2);
    expect(svg).to.include('--max-loss 1');
    expect(svg).to.include('RTP loss (none)');
  });
});

describe('icelab load options', () => {
  it('defaults: 10 data calls over TURN/UDP, 1% loss, 2 s p95 connect', () => {
    const p = planLoad({ json: false });
    expect(p.spec).to.include({ calls: 10, ice: 'turn-udp', traffic: 'data', durationS: 30, ramp: 10 });
    expect(p.spec.thresholds).to.deep.equal(T);
  });

  for (const [o, message] of [
    [{ calls: '2.5' }, /--calls: "2.5" is not a whole number/],
    [{ ice: 'stun' }, /--ice: unknown value "stun"/],
    [{ traffic: 'screen' }, /--traffic: unknown value "screen"/],
    [{ engines: 'opera' }, /unknown browser engine "opera"/],
    [{ turn: 'elsewhere' }, /--turn: "elsewhere"/],
    [{ turn: 'service:myturn' }, /--turn service:myturn: no --topology file/],
    [{ turnConfig: 'total-quota=50', turn: 'service:x' }, /--turn service:x/],
    [{ calls: '0' }, /nothing to load/],
    [{ maxLoss: '-1' }, /--max-loss: "-1"/],
  ] as const) {
    it(`refuses ${JSON.stringify(o)} before anything starts`, () => {
      expect(() => planLoad({ json: false, ...o })).to.throw(message);
    });
  }
});
