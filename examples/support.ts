// What the examples' tests share: an example's lab from its own topology file, one browser fleet
// for all its calls, evidence under reports/evidence/examples/<example>/, and timings for the notes.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { AppSession, BrowserFleet, parsePeerName, startLab, type AppPeer, type PeerConnectionReport, type StartedLab, type TopologyInput } from '../lab/index.ts';
import { evidenceRoot, safeName } from '../suites/support/fixture.ts';

/** An example's folder: examples/<name>/. */
export const exampleDir = (name: string): string => new URL(`./${name}/`, import.meta.url).pathname;

/**
 * examples/<name>/topology.yaml with each service's `cwd` taken from the example's folder (the file
 * writes `cwd: .`), so the test runs from any working directory.
 */
export function exampleTopology(name: string): TopologyInput {
  const dir = exampleDir(name);
  const input = parse(readFileSync(join(dir, 'topology.yaml'), 'utf8')) as TopologyInput & { services?: { cwd?: string }[] };
  for (const s of input.services ?? []) s.cwd = isAbsolute(s.cwd ?? '.') ? s.cwd : join(dir, s.cwd ?? '.');
  return input;
}

/** One example's lab and browsers, shared by its tests; `upMs` is lab + services up (ready checks passed). */
export class ExampleLab implements AsyncDisposable {
  readonly name: string;
  readonly lab: StartedLab;
  readonly fleet: BrowserFleet;
  readonly upMs: number;
  /** Page open (navigation) to connected, per negotiated peer connection of a call (PeerConnectionReport.timings). */
  readonly timings: { call: string; openToConnectedMs: (number | null)[] }[] = [];
  private constructor(name: string, lab: StartedLab, upMs: number) {
    this.name = name;
    this.lab = lab;
    this.fleet = new BrowserFleet(lab);
    this.upMs = upMs;
  }
  static async start(name: string): Promise<ExampleLab> {
    const t0 = performance.now();
    const lab = await startLab(exampleTopology(name));
    return new ExampleLab(name, lab, Math.round(performance.now() - t0));
  }

  /** A session whose pages record a Playwright trace, with its evidence under the example's folder of reports/evidence. */
  session(test: string): AppSession {
    const evidenceDir = join(evidenceRoot(), 'examples', this.name, safeName(test));
    mkdirSync(evidenceDir, { recursive: true });
    return new AppSession(this.lab, { fleet: this.fleet, trace: true, evidenceDir });
  }

  /**
   * Launches the browsers `peers` (engine@host) name, once per fleet, so that a call's timings start
   * at its page and not at a browser's launch. Rejects with EngineUnavailableError as openPeer would.
   */
  async launch(...peers: string[]): Promise<void> {
    await Promise.all(peers.map((p) => parsePeerName(p)).map((p) => this.fleet.browser(p.engine, p.host)));
  }

  /** One line for the notes: lab + services up, and each call's page-open-to-connected times. */
  summary(): string {
    const ms = (v: number | null) => (v === null ? 'not connected' : `${v} ms`);
    const calls = this.timings.map((t) => (t.openToConnectedMs.length ? `${t.call}: ${t.openToConnectedMs.map(ms).join(', ')}` : t.call));
    return `${this.name}: lab + services up ${this.upMs} ms; page open → connected: ${calls.join('; ')}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.fleet.close();
    await this.lab.stop();
  }
}

/** The evidence files a page must leave once its session is closed: its trace, each service's log, and each peer connection's result. */
export function missingEvidence(peer: AppPeer, reports: readonly PeerConnectionReport[], services: readonly string[]): string[] {
  const want = [
    ...['trace.zip', 'console.log', ...services.map((s) => `service-${s}.log`)].map((f) => join(peer.evidence, f)),
    ...reports.map((r) => join(r.evidence, 'result.json')),
  ];
  return want.filter((f) => !existsSync(f));
}

/** What a failed expectation prints: every peer connection's story in one screen. */
export const story = (reports: readonly PeerConnectionReport[]): string =>
  reports.map((r) => `${r.id} ${r.state} ${r.class} expected ${r.expected?.outcome ?? 'nothing'}: ${r.verdict.status}, ${r.verdict.reason} (evidence ${r.evidence})`).join('\n');
