import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { claimsFile, claimsTableHtml, formatClaimsTable, readClaims, writeClaims, type ClaimsFile } from './claims-table.ts';
import { LabError } from '../topology/errors.ts';
import { testDir } from '../testing/temp-dir.ts';

const SAMPLE: ClaimsFile = {
  generated: '2026-01-02T03:04:05.000Z',
  engines: { chromium: '156.0.8078.108', firefox: '153.8.0', webkit: null },
  claims: [
    {
      id: 'prefixed-defined',
      claim: '`webkitRTCPeerConnection` is a JavaScript interface',
      source: 'seed/guide.txt:9',
      verdicts: {
        chromium: { verdict: 'true', detail: 'typeof webkitRTCPeerConnection = function' },
        firefox: { verdict: 'false', detail: 'typeof webkitRTCPeerConnection = undefined' },
        webkit: { verdict: 'unavailable', detail: 'webkit is not installed' },
      },
    },
    {
      id: 'html-escape',
      claim: 'a <script>alert("x")</script> & more',
      source: 'seed/guide.txt:12',
      verdicts: { chromium: { verdict: 'error', detail: 'page crashed <boom>' }, firefox: { verdict: 'true', detail: '' } },
    },
  ],
};

describe('claims table', function () {
  let dir: string;
  beforeEach(() => (dir = testDir('claims')));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('formats a plain-text table: one row per claim, a column per engine with its major version, then the false ones explained', function () {
    const text = formatClaimsTable(SAMPLE);
    const lines = text.split('\n');
    expect(lines[0]).to.match(/^claim\s+source\s+chromium 156\s+firefox 153\s+webkit$/);
    expect(lines[2]).to.match(/^webkitRTCPeerConnection is a JavaScript interface\s+line 9\s+true\s+FALSE\s+n\/a$/);
    expect(lines[3]).to.match(/line 12\s+ERROR\s+true\s+-$/);
    expect(text).to.include('2 claims — chromium: 1 true, 0 false, 1 error; firefox: 1 true, 1 false; webkit: 0 true, 0 false, 1 unavailable');
    expect(text).to.include('prefixed-defined [firefox] false: typeof webkitRTCPeerConnection = undefined');
    expect(text).to.include('html-escape [chromium] error: page crashed <boom>');
  });

  it('accepts the rows alone (columns from the verdicts present)', function () {
    const text = formatClaimsTable(SAMPLE.claims.slice(1));
    expect(text.split('\n')[0]).to.match(/^claim\s+source\s+chromium\s+firefox$/);
  });

  it('renders self-contained HTML: green true, red false and error, grey unavailable, everything escaped', function () {
    const html = claimsTableHtml(SAMPLE);
    expect(html).to.match(/^<!doctype html>/);
    expect(html).not.to.match(/<script|<link|src=/);
    const row = (id: string) => new RegExp(`<tr data-claim="${id}">([\\s\\S]*?)</tr>`).exec(html)![1]!;
    const cells = (id: string) => [...row(id).matchAll(/<td style="background:(#[0-9a-f]+)[^>]*>/g)].map((m) => m[1]);
    expect(cells('prefixed-defined')).to.deep.equal(['#d4f4dd', '#f9d0d0', '#e4e4e4']);
    expect(cells('html-escape')).to.deep.equal(['#f9d0d0', '#d4f4dd', '#e4e4e4']);
    expect(html).to.include('a &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more');
    expect(html).to.include('page crashed &lt;boom&gt;');
    expect(html).to.include('<th style="text-align:left;padding:4px 8px;border-bottom:2px solid #888">chromium 156</th>');
  });

  it('writes and reads back claims.json under ICELAB_REPORTS_DIR', function () {
    const file = claimsFile({ ICELAB_REPORTS_DIR: dir });
    expect(file).to.equal(join(dir, 'claims.json'));
    writeClaims(SAMPLE, file);
    expect(readClaims(file)).to.deep.equal(SAMPLE);
  });

  it('says what is wrong with a missing or malformed file, and how to fix it', function () {
    const missing = join(dir, 'none.json');
    expect(() => readClaims(missing)).to.throw(LabError, /no claims table at .*none\.json[\s\S]*To fix: run the API suite/).with.property('code', 'ERR_CLAIMS_MISSING');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...SAMPLE, claims: [{ ...SAMPLE.claims[0], source: 'guide line 9', verdicts: { chromium: { verdict: 'maybe', detail: '' } } }] }));
    expect(() => readClaims(bad)).to.throw(LabError, /\[claims\.0\.source\] use seed\/<file>:<line>.*\[claims\.0\.verdicts\.chromium\.verdict\]/).with.property('code', 'ERR_CLAIMS_INVALID');
  });
});
