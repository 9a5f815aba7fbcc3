import type { CheckResult, CheckStatus } from './check.js';

/**
 * The report: one line per result, `ID STATUS message`, and for a FAIL or WARN with a remedy
 * ` — fix: COMMAND` on the same line, so `grep FAIL` shows what to run. A summary line ends it.
 */
export function renderText(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.id.length), 0);
  const lines = results.map((r) => `${r.id.padEnd(width)}  ${r.status}  ${r.message}${r.fix && r.status !== 'PASS' ? ` — fix: ${r.fix}` : ''}`);
  return `${lines.join('\n')}\n${summary(results)}\n`;
}

/** The same results for scripts: a JSON array of {id, status, message, fix?}. */
export function renderJson(results: readonly CheckResult[]): string {
  return `${JSON.stringify(results, null, 2)}\n`;
}

function summary(results: readonly CheckResult[]): string {
  const count = (status: CheckStatus) => results.filter((r) => r.status === status).length;
  const failed = count('FAIL');
  const verdict = failed === 0 ? 'ready' : 'NOT ready';
  return `doctor: host ${verdict}: ${count('PASS')} passed, ${failed} failed, ${count('WARN')} warnings, ${count('SKIP')} skipped`;
}
