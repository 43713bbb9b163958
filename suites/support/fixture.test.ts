import { join } from 'node:path';
import { expect } from 'chai';
import { evidenceRoot, selectedByGrep } from './fixture.ts';

describe('suite fixture: where evidence goes', function () {
  it('under ICELAB_REPORTS_DIR (icelab suite passes it), else ./reports of the working directory', function () {
    expect(evidenceRoot({ ICELAB_REPORTS_DIR: '/tmp/icelab-run/reports' })).to.equal('/tmp/icelab-run/reports/evidence');
    expect(evidenceRoot({ ICELAB_REPORTS_DIR: 'out' }), 'a relative directory is the working directory\'s').to.equal(join(process.cwd(), 'out', 'evidence'));
    expect(evidenceRoot({})).to.equal(join(process.cwd(), 'reports', 'evidence'));
  });
});

describe('suite fixture: which tests a --grep selects, for work started in before()', function () {
  const T = 'connectivity matrix (pr) chromium behind symmetric ↔ firefox behind full-cone, stun';
  it('selects every test without a grep', () => {
    expect(selectedByGrep(['node', 'mocha', 'suites/connectivity/connectivity.test.ts'])(T)).to.equal(true);
  });
  it('reads a string grep as a literal substring of the full title, as mocha does', () => {
    expect(selectedByGrep(['--grep', 'symmetric ↔ firefox'])(T)).to.equal(true);
    expect(selectedByGrep(['--grep=full-cone, turn-udp'])(T)).to.equal(false);
    expect(selectedByGrep(['--grep', 'behind (symmetric)'])(T), 'parentheses are literal').to.equal(false);
  });
  it('reads /re/ as a regular expression, and --invert turns the choice round', () => {
    expect(selectedByGrep(['-g', '/full-cone, (stun|turns)$/'])(T)).to.equal(true);
    expect(selectedByGrep(['--grep', 'stun', '--invert'])(T)).to.equal(false);
  });
});
