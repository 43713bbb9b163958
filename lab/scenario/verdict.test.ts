import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { effectiveNat, normaliseNat, PRESETS } from '../topology/nat.ts';
import { predictOutcome, type PeerSide } from './oracle.ts';
import { DIRECT_TESTED_MS, judgeCall, parseCandidate, RELAY_FIRST_PENDING, relayFirstPending, withDirectRetest, type PairSnapshot, type VerdictInput } from './verdict.ts';

/** A call recorded with `icelab connect` (its ice-checks.json); `recorded` says which and what it shows. */
interface Fixture {
  recorded: { command: string; engines: string; observed: string; note: string };
  input: VerdictInput;
}
/** A recorded call, judged against what the oracle predicts for it today. */
function fixture(name: string): Fixture {
  const f = JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as Fixture;
  const { sides, ice } = f.input;
  return { ...f, input: { ...f.input, expected: predictOutcome(sides.a, sides.b, ice) } };
}
const behind = (preset: 'full-cone' | 'port-restricted-cone' | 'symmetric', engine: PeerSide['engine'] = 'chromium'): PeerSide => ({
  engine,
  routers: [{ name: `${preset}-nat`, nat: effectiveNat(PRESETS[preset].chain.map(normaliseNat))!, firewall: null }],
  firewall: null,
});
/** Every snapshot of one side, edited alike. */
const editSnapshots = (input: VerdictInput, side: 'a' | 'b', edit: (s: PairSnapshot) => PairSnapshot): VerdictInput => {
  const c = input.checks[side];
  return { ...input, checks: { ...input.checks, [side]: { ...c, nominations: c.nominations.map(edit), final: edit(c.final) } } };
};

describe('parseCandidate', () => {
  it('reads type, transport and address from a candidate line, with or without a=', () => {
    expect(parseCandidate('candidate:1 1 UDP 1686052863 198.18.2.2 50619 typ srflx raddr 10.2.0.10 rport 50619')).to.deep.equal({ type: 'srflx', protocol: 'udp', address: '198.18.2.2', port: 50619, priority: 1686052863 });
    expect(parseCandidate('a=candidate:2 1 tcp 1518280447 10.2.0.10 9 typ host tcptype active')).to.deep.equal({ type: 'host', protocol: 'tcp', address: '10.2.0.10', port: 9, priority: 1518280447 });
  });
  it('is null for a line it cannot read', () => {
    expect(parseCandidate('')).to.equal(null);
    expect(parseCandidate('candidate:this is not a candidate')).to.equal(null);
  });
});

describe('judgeCall: a peer-reflexive pair is a trickle race only when its address was signalled', () => {
  it('race-prflx: Firefox reads B\'s host as prflx, B did signal that host candidate: the host prediction passes', () => {
    const { input } = fixture('race-prflx');
    const v = judgeCall(input);
    expect(v.status, v.reason).to.equal('pass');
    expect(v.settledClass).to.equal('host');
    expect(v.reason).to.include("198.18.1.2:43149 (read as prflx: B's host candidate)");
  });

  it('the same packets when B\'s host candidate never reached A: a prflx of its own, unexpected, naming the address', () => {
    const { input } = fixture('race-prflx');
    const never = { ...input, checks: { ...input.checks, a: { ...input.checks.a, received: input.checks.a.received.filter((c) => c.type !== 'host') } } };
    const v = judgeCall(never);
    expect(v.status).to.equal('unexpected');
    expect(v.result).to.equal('prflx');
    expect(v.reason).to.match(/^198\.18\.1\.2:43149 is peer-reflexive and no candidate the other side signalled/);
  });

  it('mapping-prflx: a symmetric NAT\'s new port passes where the oracle predicts prflx', () => {
    const v = judgeCall(fixture('mapping-prflx').input);
    expect(v.status, v.reason).to.equal('pass');
    expect(v.settledClass).to.equal('prflx');
  });

  it('mapping-prflx from a NAT configured endpoint-independent (a mapping regression) is unexpected, naming the address', () => {
    // The same packets, judged against what the oracle says for a port-restricted cone: srflx.
    const { input } = fixture('mapping-prflx');
    const sides = { a: behind('port-restricted-cone'), b: behind('full-cone') };
    const expected = predictOutcome(sides.a, sides.b, input.ice);
    expect(expected.outcome).to.equal('srflx');
    const v = judgeCall({ ...input, expected, sides });
    expect(v.status).to.equal('unexpected');
    expect(v.result).to.equal('prflx');
    expect(v.reason).to.match(/^198\.18\.2\.1:10209 is peer-reflexive and no candidate the other side signalled: its NAT mapped a new address/);
  });
});

describe('judgeCall: a direct prediction settled on a relay is judged by whether the NAT allowed the direct path', () => {
  it('relay-first-direct-succeeded: a direct check succeeded, so it passes, and the nomination is reported', () => {
    const v = judgeCall(fixture('relay-first-direct-succeeded').input);
    expect(v.status, v.reason).to.equal('pass');
    expect(v.result).to.equal('srflx');
    expect(v.settledClass).to.equal('relay-udp');
    expect(v.directPath).to.include({ state: 'succeeded', class: 'srflx' });
    expect(v.nominated).to.deep.equal({ a: 'srflx', b: 'srflx' });
    expect(v.switched).to.equal(true);
    expect(v.reason).to.match(/^the NAT allowed the predicted srflx path .*the agents nominated the relay that answered first/);
  });

  it('relay-first-pending: no direct check answered, one was still running at the nomination: its own result, not a pass', () => {
    const v = judgeCall(fixture('relay-first-pending').input);
    expect(v.status).to.equal('unexpected');
    expect(v.result).to.equal(`relay-udp, ${RELAY_FIRST_PENDING}`);
    expect(v.directPath).to.deep.equal({ state: 'pending', pair: 'B host/udp 10.2.0.10:48231 ↔ srflx/udp 198.18.2.1:47138 (in-progress)', class: null });
    expect(v.nominated).to.deep.equal({ a: 'relay-udp', b: 'relay-udp' });
  });

  it('relay-first-pending is decided by the same call with STUN only: a pass when that call settled the predicted class, with both said', () => {
    const { input } = fixture('relay-first-pending');
    const first = judgeCall(input);
    expect(relayFirstPending(first)).to.equal(true);
    const direct = judgeCall(fixture('local-prflx-race').input); // a recorded STUN-only call that settled srflx
    expect(direct).to.include({ status: 'pass', settledClass: 'srflx' });
    const v = withDirectRetest(first, input.expected, direct);
    expect(v).to.include({ status: 'pass', result: 'srflx', settledClass: 'relay-udp' });
    expect(v.directPath.state, 'this call still says its own direct path was pending').to.equal('pending');
    expect(v.reason).to.match(/^the NAT allowed the predicted srflx path: the same call with STUN only settled on .*in this call the agents nominated the relay that answered first \(the relay was nominated while B host\/udp/);
  });

  it('relay-first-pending stays unexpected when the call with STUN only did not settle the predicted class, naming what it did', () => {
    const { input } = fixture('relay-first-pending');
    const first = judgeCall(input);
    for (const name of ['fail-by-mechanism', 'mapping-prflx', 'fail-dead-stun']) {
      const retest = judgeCall(fixture(name).input);
      const v = withDirectRetest(first, input.expected, retest);
      expect(v.status, name).to.equal('unexpected');
      expect(v.result, name).to.equal(first.result);
      expect(v.reason, name).to.include(`the same call with STUN only did not show the srflx path either: ${retest.status}, ${retest.reason}`);
    }
    expect(relayFirstPending(judgeCall(fixture('leaky-firewall').input)), 'a relay where no direct path was predicted is never retested').to.equal(false);
  });

  it('the same call with every direct check ended unanswered: the NAT did not allow the path, unexpected', () => {
    const failed = editSnapshots(fixture('relay-first-pending').input, 'b', (s) => ({ ...s, pairs: s.pairs.map((p) => (p.remote?.type === 'srflx' ? { ...p, state: 'failed' } : p)) }));
    const v = judgeCall(failed);
    expect(v.status).to.equal('unexpected');
    expect(v.result).to.equal('relay-udp');
    expect(v.directPath.state).to.equal('failed');
    expect(v.reason).to.match(/^no direct check succeeded and none was pending when the relay was nominated: every direct check ended unanswered/);
  });

  it('a relay prediction with a direct check that succeeded is a leaking NAT or firewall, even on the predicted relay', () => {
    const { input } = fixture('relay-first-direct-succeeded');
    const sides = { a: behind('symmetric'), b: behind('port-restricted-cone') };
    const expected = predictOutcome(sides.a, sides.b, input.ice);
    expect(expected.outcome).to.equal('relay-udp');
    const v = judgeCall({ ...input, expected, sides });
    expect(v.status).to.equal('unexpected');
    expect(v.result).to.equal('relay-udp, though a direct check succeeded');
  });

  it('leaky-firewall: udp-blocked settling on relay-udp where the oracle predicts no path is unexpected', () => {
    const { input } = fixture('leaky-firewall');
    expect(input.expected.outcome).to.equal('fail');
    const v = judgeCall(input);
    expect(v.status).to.equal('unexpected');
    expect(v.result).to.equal('relay-udp');
    expect(v.reason).to.match(/^connected \(relay-udp\) where the oracle predicted no path: A's firewall blocks UDP/);
  });
});

describe('judgeCall: a predicted failure passes only by its mechanism', () => {
  it('fail-by-mechanism: srflx on both sides, checks sent, none answered: passes', () => {
    const v = judgeCall(fixture('fail-by-mechanism').input);
    expect(v.status, v.reason).to.equal('pass');
    expect(v.result).to.equal('fail');
    expect(v.reason).to.match(/^failed as predicted: every candidate the configuration allows was gathered, A checked [1-9]\d* pairs, B checked [1-9]\d* pairs, no pair succeeded/);
  });

  it('fail-dead-stun: the same call with the STUN server dead is unknown, not a pass', () => {
    const v = judgeCall(fixture('fail-dead-stun').input);
    expect(v.status).to.equal('unknown');
    expect(v.reason).to.equal('not connected, and not by the NATs: A gathered no srflx candidate; B gathered no srflx candidate');
  });

  it('a predicted failure where a pair\'s check was answered is unexpected: a path exists', () => {
    const { input } = fixture('fail-by-mechanism');
    const answered = editSnapshots(input, 'b', (s) => ({ ...s, pairs: s.pairs.map((p, i) => (i === 0 ? { ...p, state: 'succeeded' } : p)) }));
    expect(judgeCall(answered)).to.include({ status: 'unexpected', result: "fail, though a pair's check succeeded" });
  });

  it('no connectivity check sent (the other side\'s candidates never arrived) is unknown', () => {
    const none = editSnapshots(fixture('fail-by-mechanism').input, 'a', (s) => ({ ...s, pairs: [] }));
    const v = judgeCall(none);
    expect(v.status).to.equal('unknown');
    expect(v.reason).to.equal('not connected, and not by the NATs: A sent no connectivity check');
  });
});

describe('judgeCall: a connected call that cannot be judged is unknown, never fail or pass', () => {
  it('a selected pair that cannot be read', () => {
    const unread = editSnapshots(fixture('race-prflx').input, 'b', (s) => ({ ...s, selectedId: null }));
    const v = judgeCall(unread);
    expect(v).to.include({ status: 'unknown', result: 'unknown', settledClass: null });
    expect(v.reason).to.equal("connected, but B's selected candidate pair could not be read from getStats");
  });
  it('pairs that had not settled, even on the predicted class', () => {
    const v = judgeCall({ ...fixture('race-prflx').input, settled: false });
    expect(v).to.include({ status: 'unknown', settledClass: 'host' });
    expect(v.reason).to.match(/^not settled: /);
  });
});

describe('judgeCall: races and failures seen in the full matrix under load (load average 21)', () => {
  it('local-prflx-race: a local prflx equal to the srflx the side gathered is that srflx: the srflx prediction passes', () => {
    const v = judgeCall(fixture('local-prflx-race').input);
    expect(v.status, v.reason).to.equal('pass');
    expect(v.reason).to.include('read as prflx: its own srflx candidate');
  });

  it('local-prflx-no-srflx: a local prflx with no srflx gathered to compare it with is unknown, not passed and not failed', () => {
    const v = judgeCall(fixture('local-prflx-no-srflx').input);
    expect(v.status, v.reason).to.equal('unknown');
    expect(v.reason).to.match(/B's local candidate is peer-reflexive and it gathered no srflx/);
  });

  it('fail-nothing-to-check: a side whose peer gathered nothing (as predicted) owes no checks: the failure passes by its mechanism', () => {
    const { input } = fixture('fail-nothing-to-check');
    expect(input.checks.b.gathered, 'B gathered nothing').to.deep.equal([]);
    const v = judgeCall(input);
    expect(v.status, v.reason).to.equal('pass');
    // …while a side that had candidates on both ends and sent no check still makes it unknown.
    const silentA = { ...input, checks: { ...input.checks, b: { ...input.checks.b, gathered: input.checks.a.gathered } } };
    expect(judgeCall(silentA).status).to.equal('unknown');
  });
});

describe('judgeCall: a predicted relay stands only on a tested direct path (recorded in the lab with a leaking NAT, 2026-12-01)', () => {
  it('relay-tested-blocked: every direct pair checked ≥ DIRECT_TESTED_MS on both sides, none answered: the relay passes', () => {
    const { input } = fixture('relay-tested-blocked');
    const v = judgeCall(input);
    expect(v.status, v.reason).to.equal('pass');
    expect(v.result).to.equal('relay-udp');
  });

  it('the same call read before its direct pairs were checked that long is not passed: the direct path was not tested', () => {
    const { input } = fixture('relay-tested-blocked');
    const early = (c: VerdictInput['checks']['a']) => ({ ...c, final: { ...c.final, t: Math.min(...Object.values(c.checkTimes!).flatMap((t) => (t.checked ? [t.checked] : []))) + DIRECT_TESTED_MS - 100 } });
    const v = judgeCall({ ...input, checks: { a: early(input.checks.a), b: early(input.checks.b) } });
    expect(v.status, v.reason).to.equal('unexpected');
    expect(relayFirstPending(v), v.result).to.equal(true);
    expect(v.reason).to.match(/was checked for \d+ ms when the pairs were read \(< 500 ms\)/);
  });

  it('a side that checked no direct pair, though the other side gathered an address it could check, has not tested the path', () => {
    const { input } = fixture('relay-tested-blocked');
    const relayOnly = editSnapshots(input, 'a', (snap) => ({ ...snap, pairs: snap.pairs.filter((p) => p.local?.type === 'relay' || p.remote?.type === 'relay' || p.id === snap.selectedId) }));
    const v = judgeCall(relayOnly);
    expect(v.status, v.reason).to.equal('unexpected');
    expect(v.reason).to.match(/: A checked no direct pair, though B gathered srflx 198\.18\.\d+\.\d+:\d+;/);
  });

  it('relay-untested-leak: A\'s pair to B\'s srflx was cancelled before its first check: re-tested, not passed', () => {
    const v = judgeCall(fixture('relay-untested-leak').input);
    expect(v.status, v.reason).to.equal('unexpected');
    expect(v.result).to.equal(`relay-udp, ${RELAY_FIRST_PENDING}`);
    expect(relayFirstPending(v)).to.equal(true);
    expect(v.reason).to.match(/^the relay was selected before the direct path was tested: A host\/udp \S+ ↔ srflx\/udp \S+ \(cancelled\) was never checked;/);
  });

  it('its STUN-only retest connected: the relay stays unexpected, the reason naming the leak; a retest that failed as predicted lets it pass', () => {
    const { input } = fixture('relay-untested-leak');
    const first = judgeCall(input);
    const retest = judgeCall(fixture('relay-untested-leak-retest').input);
    expect(retest.settledClass).to.equal('srflx');
    const leaked = withDirectRetest(first, input.expected, retest);
    expect(leaked.status).to.equal('unexpected');
    expect(leaked.reason).to.match(/the same call with STUN only connected \(srflx\): a NAT or firewall let through a direct path the oracle rules out$/);
    const blocked = judgeCall(fixture('fail-by-mechanism').input);
    expect(blocked).to.include({ status: 'pass', result: 'fail' });
    const stands = withDirectRetest(first, input.expected, blocked);
    expect(stands).to.include({ status: 'pass', result: 'relay-udp' });
    expect(stands.reason).to.match(/^the direct path is blocked as predicted: the same call with STUN only failed as predicted/);
  });

  it('a relay of another class than predicted is unexpected as before, not re-tested into a pass', () => {
    const { input } = fixture('relay-untested-leak');
    const v = judgeCall({ ...input, expected: { ...input.expected, outcome: 'relay-tcp' } });
    expect(v.status, v.reason).to.equal('unexpected');
    expect(relayFirstPending(v), v.result).to.equal(false);
  });

  it('a retest that cannot be judged (its STUN server did not answer) makes the relay unknown, not unexpected', () => {
    const { input } = fixture('relay-untested-leak');
    const broken = judgeCall(fixture('fail-dead-stun').input);
    expect(broken.status).to.equal('unknown');
    const v = withDirectRetest(judgeCall(input), input.expected, broken);
    expect(v.status).to.equal('unknown');
    expect(v.reason).to.match(/; the same call with STUN only was unknown: /);
  });

  it('evidence with no check times (the app recorder, older recordings) is judged as before', () => {
    const { input } = fixture('relay-untested-leak');
    const strip = (c: VerdictInput['checks']['a']) => {
      const { checkTimes: _t, ...rest } = c;
      return rest;
    };
    expect(judgeCall({ ...input, checks: { a: strip(input.checks.a), b: strip(input.checks.b) } }).status).to.equal('pass');
  });
});
