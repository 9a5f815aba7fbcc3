import type { CheckResult, ConformanceReport } from './run.js';

/** The counts of the final line. */
export function totals(report: ConformanceReport): { passed: number; failed: number; skipped: number } {
  const count = (status: string) => report.results.filter((r) => r.outcome.status === status).length;
  return { passed: count('pass'), failed: count('fail'), skipped: count('skip') };
}

/** `id  PASS|FAIL|SKIP  reason`, one line per check; a leftover the kit could not delete is named. */
export function textLine(result: CheckResult): string {
  const { outcome } = result;
  const reason = outcome.status === 'pass' ? outcome.note ?? '' : outcome.reason;
  const left = result.leftovers.length > 0 ? ` (could not undo: ${result.leftovers.join('; ')})` : '';
  return `${result.id.padEnd(30)} ${outcome.status.toUpperCase()}${reason || left ? `  ${reason}${left}` : ''}\n`;
}

/**
 * `N passed, M failed, K skipped`, after a line naming what the real-Docker mode could not
 * remove at the end of the run, if anything.
 */
export function summaryLine(report: ConformanceReport): string {
  const t = totals(report);
  const left = report.dockerLeftovers?.length ? `real-Docker mode: could not remove ${report.dockerLeftovers.join('; ')}\n` : '';
  return `${left}${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped\n`;
}

/** The text report: {@link textLine} per check, then {@link summaryLine}. */
export function renderText(report: ConformanceReport): string {
  return report.results.map(textLine).join('') + summaryLine(report);
}

/** The report as JSON, with the totals, for scripts. */
export function renderJson(report: ConformanceReport): string {
  return `${JSON.stringify({ ...report, ...totals(report) }, null, 2)}\n`;
}

const xml = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JUnit XML, as CI systems read it: one testcase per check, failure/skipped with the reason. */
export function renderJunit(report: ConformanceReport): string {
  const t = totals(report);
  const cases = report.results.map((r) => {
    const head = `  <testcase classname="plugin-conformance" name="${xml(r.id)}" time="${(r.ms / 1000).toFixed(3)}"`;
    if (r.outcome.status === 'pass') return `${head}/>`;
    const tag = r.outcome.status === 'fail' ? 'failure' : 'skipped';
    return `${head}>\n    <${tag} message="${xml(r.outcome.reason)}"/>\n  </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="docker plugin conformance" tests="${report.results.length}" failures="${t.failed}" skipped="${t.skipped}" time="${(report.ms / 1000).toFixed(3)}">\n${cases.join('\n')}\n</testsuite>\n`;
}
