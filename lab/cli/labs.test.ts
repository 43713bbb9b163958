import { expect } from 'chai';
import type { LabStanding } from '../network/network.ts';
import { chooseLab, planDown, upStory } from './labs.ts';

const up = (id: string): LabStanding => ({ id, kind: 'detached' });
const held = (id: string): LabStanding => ({ id, kind: 'owned', owner: { pid: 4242, command: 'node icelab suite' } });
const stale = (id: string): LabStanding => ({ id, kind: 'stale' });
const ids = (l: LabStanding[]) => l.map((x) => x.id);
const err = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('icelab exec/down: which lab a command means', () => {
  it('exec without --name takes the only lab up, whatever its name (it looked only for "default")', () => {
    expect(chooseLab(undefined, [up('x'), stale('old')])).to.equal('x');
    expect(chooseLab(undefined, [held('suite1')])).to.equal('suite1');
    expect(chooseLab('y', [up('x')])).to.equal('y');
  });

  it('exec without --name and several labs up lists them; none up says so', () => {
    expect(err(() => chooseLab(undefined, [up('x'), held('y')]))).to.match(/2 labs are up \(x, y\): which one\?[\s\S]*--name x/);
    expect(err(() => chooseLab(undefined, [stale('old')]))).to.match(/no lab is up[\s\S]*icelab up/);
  });

  it('down --all removes the labs nobody holds and keeps a live owner\'s (a running suite\'s browsers were SIGKILLed)', () => {
    const p = planDown({ name: undefined, all: true, force: false }, [up('a'), held('suite1'), up('b'), stale('old')]);
    expect(ids(p.remove)).to.deep.equal(['a', 'b']);
    expect(ids(p.keep)).to.deep.equal(['suite1']);
  });

  it('down --all also removes the machine cache (lab CA, kernel probe); down of one lab leaves it for the next start', () => {
    expect(planDown({ name: undefined, all: true, force: false }, [up('a')]).machineCache).to.equal(true);
    expect(planDown({ name: 'a', all: false, force: false }, [up('a')]).machineCache).to.equal(false);
  });

  it('--force removes a live owner\'s lab too', () => {
    expect(ids(planDown({ name: undefined, all: true, force: true }, [up('a'), held('suite1')]).remove)).to.deep.equal(['a', 'suite1']);
    expect(ids(planDown({ name: 'suite1', all: false, force: true }, [held('suite1')]).remove)).to.deep.equal(['suite1']);
  });

  it('down --name of a held lab keeps it unless forced', () => {
    const p = planDown({ name: 'suite1', all: false, force: false }, [held('suite1')]);
    expect([ids(p.remove), ids(p.keep)]).to.deep.equal([[], ['suite1']]);
  });

  it('down of a lab that does not exist says so (it said "removed X")', () => {
    const p = planDown({ name: 'nope', all: false, force: false }, [up('a')]);
    expect(p).to.deep.equal({ remove: [], keep: [], missing: 'nope', machineCache: false });
  });

  it('down without --name removes the only detached lab, else "default"', () => {
    expect(ids(planDown({ name: undefined, all: false, force: false }, [up('mine'), held('suite1')]).remove)).to.deep.equal(['mine']);
    expect(ids(planDown({ name: undefined, all: false, force: false }, [up('a'), up('default')]).remove)).to.deep.equal(['default']);
  });
});

describe('icelab up: what it prints', () => {
  it('lists each service with its public address, URL and log file, after the hosts', () => {
    const host = { name: 'laptop', netns: 'icelab-laptop', ip: '10.1.0.10', preset: 'open', nat: null, firewall: null, link: null, routers: [] };
    const services = [
      { name: 'web', publicIp: '198.18.1.1', url: 'https://web.lab.test', logFile: '/run/icelab/web.log' },
      { name: 'worker', publicIp: '198.18.2.2', url: null, logFile: '/run/icelab/worker.log' },
    ];
    const lines = upStory({ id: 'default', hosts: [host], turn: { ips: ['198.18.0.10', '198.18.0.11'] }, services }, 1234).split('\n');
    expect(lines[1]).to.match(/^ {2}laptop +10\.1\.0\.10 +public, no NAT$/);
    expect(lines[2]).to.equal('  service web            198.18.1.1     https://web.lab.test; log: /run/icelab/web.log');
    expect(lines[3]).to.equal('  service worker         198.18.2.2     no URL (no port); log: /run/icelab/worker.log');
  });

  it('with two hosts or more, ends with the connect --lab command that calls between the first two', () => {
    const host = (name: string) => ({ name, netns: `icelab-mine-${name}`, ip: '10.1.0.10', preset: 'open', nat: null, firewall: null, link: null, routers: [] });
    const lines = upStory({ id: 'mine', hosts: [host('office'), host('home')], turn: { ips: ['198.18.0.10', '198.18.0.11'] }, services: [] }, 1).split('\n');
    expect(lines.at(-1)).to.equal('call between two hosts (browsers kept warm): npx icelab connect --lab mine --a chromium@office --b firefox@home --ice stun');
  });
});
