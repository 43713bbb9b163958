import { join } from 'node:path';
import { expect } from 'chai';
import { evidenceRoot } from './fixture.ts';

describe('suite fixture: where evidence goes', function () {
  it('under ICELAB_REPORTS_DIR (icelab suite passes it), else ./reports of the working directory', function () {
    expect(evidenceRoot({ ICELAB_REPORTS_DIR: '/tmp/icelab-run/reports' })).to.equal('/tmp/icelab-run/reports/evidence');
    expect(evidenceRoot({ ICELAB_REPORTS_DIR: 'out' }), 'a relative directory is the working directory\'s').to.equal(join(process.cwd(), 'out', 'evidence'));
    expect(evidenceRoot({})).to.equal(join(process.cwd(), 'reports', 'evidence'));
  });
});
