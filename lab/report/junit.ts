import { label, outcomeOf, unavailableReason, knownReason, type AllureResult } from './results.ts';

const xml = (s: string): string =>
  // XML 1.0 forbids most control characters even as entities: drop them.
  s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The suite a result belongs to, as Allure shows it: parentSuite / suite / subSuite. */
export function suiteName(r: AllureResult): string {
  const parts = ['parentSuite', 'suite', 'subSuite'].map((n) => label(r, n)).filter((v): v is string => !!v);
  return parts.join(' / ') || r.fullName?.split(': ').pop()?.split(' > ').slice(0, -1).join(' > ') || 'icelab';
}

/**
 * JUnit XML from Allure results, for CI annotations. Known deviations pass (their reason goes to
 * system-out), an unavailable engine is `skipped` with its reason, broken (the lab, not the engine)
 * is an `error`, a failure is a `failure`.
 */
export function junitXml(results: readonly AllureResult[]): string {
  const suites = new Map<string, AllureResult[]>();
  for (const r of [...results].sort((a, b) => (a.start ?? 0) - (b.start ?? 0))) {
    const name = suiteName(r);
    suites.set(name, [...(suites.get(name) ?? []), r]);
  }
  const secs = (r: AllureResult) => (r.start && r.stop ? Math.max(0, r.stop - r.start) / 1000 : 0);
  const totals = { tests: 0, failures: 0, errors: 0, skipped: 0, time: 0 };
  const body: string[] = [];
  for (const [name, list] of suites) {
    const n = { tests: list.length, failures: 0, errors: 0, skipped: 0, time: 0 };
    const cases = list.map((r) => {
      const outcome = outcomeOf(r);
      const t = secs(r);
      n.time += t;
      const msg = r.statusDetails?.message ?? '';
      const trace = r.statusDetails?.trace ?? msg;
      let inner = '';
      if (outcome === 'failed') {
        n.failures++;
        inner = `<failure message="${xml(msg)}" type="AssertionError">${xml(trace)}</failure>`;
      } else if (outcome === 'broken') {
        n.errors++;
        inner = `<error message="${xml(msg || 'broken')}" type="LabBroken">${xml(trace)}</error>`;
      } else if (outcome === 'unavailable' || outcome === 'skipped') {
        n.skipped++;
        inner = `<skipped message="${xml(unavailableReason(r) ?? (msg || 'skipped'))}"/>`;
      } else if (outcome === 'known') {
        inner = `<system-out>${xml(knownReason(r) ?? 'known deviation')}</system-out>`;
      }
      return `    <testcase classname="${xml(name)}" name="${xml(r.name)}" time="${t.toFixed(3)}"${inner ? `>${inner}</testcase>` : '/>'}`;
    });
    for (const k of ['tests', 'failures', 'errors', 'skipped', 'time'] as const) totals[k] += n[k];
    body.push(
      `  <testsuite name="${xml(name)}" tests="${n.tests}" failures="${n.failures}" errors="${n.errors}" skipped="${n.skipped}" time="${n.time.toFixed(3)}">`,
      ...cases,
      '  </testsuite>',
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="icelab" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" skipped="${totals.skipped}" time="${totals.time.toFixed(3)}">`,
    ...body,
    '</testsuites>',
    '',
  ].join('\n');
}
