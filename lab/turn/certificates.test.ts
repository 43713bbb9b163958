import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlannedTurn } from '../topology/topology.ts';
import { MACHINE_CACHE } from '../network/machine-cache.ts';
import { coturnHasPrometheus, labCertificates } from './coturn.ts';

const turn = (ips: [string, string]): PlannedTurn => ({ name: 'turn', provider: 'process', image: null, ips });

describe('the lab CA and TURN certificate are made once per machine', () => {
  const root = `/tmp/icelab-test-tls-${process.pid}`;
  const lab = (n: number) => {
    const dir = join(root, `lab${n}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const cert = (dir: string) => new X509Certificate(readFileSync(join(dir, 'cert.pem')));
  const cache = join(root, 'cache');
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a second lab with the same names and addresses gets the same certificate, a lab with other addresses its own', async () => {
    const [a, b, c] = [lab(1), lab(2), lab(3)];
    await labCertificates(a, turn(['198.18.0.10', '198.18.0.11']), cache);
    await labCertificates(b, turn(['198.18.0.10', '198.18.0.11']), cache);
    await labCertificates(c, turn(['198.18.0.20', '198.18.0.21']), cache);
    expect(cert(b).fingerprint256, 'same content: the cached certificate').to.equal(cert(a).fingerprint256);
    expect(cert(c).fingerprint256, 'other addresses: another certificate').to.not.equal(cert(a).fingerprint256);
    expect(cert(c).subjectAltName).to.equal('DNS:turn.lab.test, IP Address:198.18.0.20, IP Address:198.18.0.21');
    expect(cert(a).verify(new X509Certificate(readFileSync(join(a, 'ca.pem'))).publicKey), 'signed by the copied lab CA').to.equal(true);
    // Each lab has its own copy, the CA's key included: the lab signs its services' certificates with it.
    expect(readdirSync(a).sort()).to.deep.equal(['ca.key', 'ca.pem', 'cert.pem', 'key.pem']);
  });

  it('a damaged cached certificate is made again', async () => {
    const [a, b] = [lab(4), lab(5)];
    await labCertificates(a, turn(['198.18.0.30', '198.18.0.31']), cache);
    const entry = readdirSync(cache).find((d) => readFileSync(join(cache, d, 'cert.pem')).equals(readFileSync(join(a, 'cert.pem'))))!;
    writeFileSync(join(cache, entry, 'cert.pem'), 'not a certificate');
    await labCertificates(b, turn(['198.18.0.30', '198.18.0.31']), cache);
    expect(cert(b).fingerprint256).to.not.equal(cert(a).fingerprint256);
    expect(cert(b).subjectAltName).to.include('IP Address:198.18.0.30');
  });
});

describe('what the coturn binary can do is asked once per machine', () => {
  it('the Prometheus answer is stored in the machine cache for this binary, and equals what turnserver --help says', async () => {
    const yes = await coturnHasPrometheus();
    const help = spawnSync('turnserver', ['--help']).stdout.toString();
    expect(yes).to.equal(help.includes('prometheus'));
    const entry = JSON.parse(readFileSync(join(MACHINE_CACHE, 'coturn-prometheus.json'), 'utf8')) as { key: string; value: boolean };
    expect(entry.key, 'keyed on the binary').to.match(/\/turnserver \d+ [\d.]+$/);
    expect(entry.value).to.equal(yes);
  });
});
