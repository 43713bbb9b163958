import { expect } from 'chai';
import { CallPool, IdleCpu, nextRunnable } from './call-pool.ts';
import { setTimeout as sleep } from 'node:timers/promises';


describe('CallPool: calls that share no host run at once', function () {
  it('picks the first queued call whose hosts are all free', () => {
    const queue = [{ hosts: ['a', 'b'] }, { hosts: ['b', 'c'] }, { hosts: ['d', 'e'] }];
    expect(nextRunnable(queue, new Set())).to.equal(0);
    expect(nextRunnable(queue, new Set(['a']))).to.equal(1);
    expect(nextRunnable(queue, new Set(['b']))).to.equal(2);
    expect(nextRunnable(queue, new Set(['b', 'e']))).to.equal(-1);
  });

  it('never runs two calls on one host at once, and runs every call', async () => {
    const pool = new CallPool({ max: 4 });
    const inUse = new Set<string>();
    const clashes: string[] = [];
    const hosts = [['a', 'b'], ['a', 'c'], ['b', 'd'], ['e', 'f'], ['c', 'e'], ['a', 'b']];
    const done = await Promise.all(
      hosts.map((hs, i) =>
        pool.submit(hs, async () => {
          for (const h of hs) (inUse.has(h) ? clashes.push(h) : inUse.add(h));
          await sleep(40);
          for (const h of hs) inUse.delete(h);
          return i;
        }),
      ),
    );
    expect(done).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(clashes, 'hosts used by two calls at once').to.deep.equal([]);
  });

  it('passes a call\'s failure to its own caller only', async () => {
    const pool = new CallPool();
    const [bad, good] = await Promise.allSettled([pool.submit(['a'], () => Promise.reject(new Error('boom'))), pool.submit(['a'], async () => 'ok')]);
    expect(bad.status === 'rejected' && (bad.reason as Error).message).to.equal('boom');
    expect(good.status === 'fulfilled' && good.value).to.equal('ok');
  });

  it('adds calls beyond one only while the CPU has idle time, up to max', async function () {
    this.timeout(10_000);
    // Host-disjoint calls long enough for several CPU samples: on an idle machine the pool grows
    // past one; on a busy one it may not, but it never exceeds max.
    const pool = new CallPool({ max: 3 });
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((h) => pool.submit([h], () => sleep(900))));
    expect(pool.peak).to.be.within(1, 3);
    const idle = new IdleCpu().sample(2);
    expect(idle).to.be.within(0, 2);
  });
});
