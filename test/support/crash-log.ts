/**
 * Reading tsnet's JSON log lines (pino) in crash tests: which calls a daemon answered, what the
 * convergence with Docker reported.
 */
export interface LogLine {
  readonly level: number;
  readonly time: number;
  readonly pid: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function parseLog(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(raw) as LogLine);
    } catch {
      // a line cut off by SIGKILL
    }
  }
  return lines;
}

/** The network or endpoint ids of calls of `method` that daemon `pid` completed with `outcome`. */
export function callIds(text: string, pid: number, method: string, field: 'networkId' | 'endpointId', outcome = 'ok'): string[] {
  return parseLog(text).filter((l) => l.pid === pid && l.msg === 'call' && l.method === method && l.outcome === outcome).map((l) => String(l[field]));
}

/** Lines of daemon `pid` (every daemon when undefined) whose message is `msg`. */
export function linesWith(text: string, msg: string, pid?: number): LogLine[] {
  return parseLog(text).filter((l) => l.msg === msg && (pid === undefined || l.pid === pid));
}

/** The convergence reports ("converged with Docker") of daemon `pid`, with their fields. */
export interface SyncReport extends LogLine {
  readonly at: string;
  readonly reachable: boolean;
  readonly removedNetworks: readonly string[];
  readonly removedEndpoints: readonly string[];
  readonly waiting: readonly string[];
  readonly suspected: readonly string[];
}

export function syncReports(text: string, pid?: number): SyncReport[] {
  return linesWith(text, 'converged with Docker', pid) as SyncReport[];
}
