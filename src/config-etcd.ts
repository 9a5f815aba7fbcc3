import { readFileSync } from 'node:fs';
import type { EtcdKvStoreOptions } from '../kvstore/etcd/etcd-kv-store.js';
import { tsnetError } from './core/errors.js';

/** How to reach etcd: the etcd store's options (secrets are read from files or the environment, never argv). */
export type EtcdConfig = Omit<EtcdKvStoreOptions, 'log'>;

/** parseArgs option definitions shared by `tsnet daemon` and `tsnet ipam release-host`. */
export const ETCD_FLAGS = {
  'etcd-endpoints': { type: 'string' },
  'etcd-prefix': { type: 'string' },
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
  'etcd-password-file': { type: 'string' },
  'etcd-dial-timeout-ms': { type: 'string' },
  'etcd-timeout-ms': { type: 'string' },
} as const;

export const ETCD_HELP = `etcd (global address space; all optional, no etcd means local state only):
  --etcd-endpoints URLS    comma-separated client URLs, e.g. http://10.0.0.5:2379
                           (TSNET_ETCD_ENDPOINTS)
  --etcd-prefix P          key prefix of every tsnet key (TSNET_ETCD_PREFIX), default tsnet/
  --etcd-ca FILE           CA certificate for TLS endpoints (TSNET_ETCD_CA)
  --etcd-cert FILE         client certificate (TSNET_ETCD_CERT)
  --etcd-key FILE          client key (TSNET_ETCD_KEY)
  --etcd-user NAME         user name (TSNET_ETCD_USER)
  --etcd-password-file F   file holding the password (or TSNET_ETCD_PASSWORD)
  --etcd-dial-timeout-ms N connection timeout, default 3000
  --etcd-timeout-ms N      deadline of each etcd call, default 3000
`;

type EtcdValues = Partial<Record<keyof typeof ETCD_FLAGS, string>>;

export function parseEtcdConfig(values: EtcdValues, env: NodeJS.ProcessEnv): EtcdConfig | undefined {
  const endpointsText = values['etcd-endpoints'] ?? env.TSNET_ETCD_ENDPOINTS;
  if (!endpointsText) return undefined;
  const endpoints = endpointsText.split(',').map((e) => e.trim()).filter(Boolean);
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) {
      throw tsnetError('TSNET_CLI_ARGS', `--etcd-endpoints entry "${endpoint.replace(/\/\/[^@/]*@/, '//')}" is not http(s)://HOST:PORT`, 'e.g. --etcd-endpoints http://10.0.0.5:2379,http://10.0.0.6:2379');
    }
    if (endpoint.includes('@')) {
      throw tsnetError('TSNET_CLI_ARGS', 'an --etcd-endpoints URL carries credentials', 'pass them with --etcd-user and --etcd-password-file instead, so they never show in process lists');
    }
  }
  const file = (flag: keyof typeof ETCD_FLAGS, envName: string) => {
    const path = values[flag] ?? env[envName];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw tsnetError('TSNET_CLI_ARGS', `--${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, 'check the path and its permissions');
    }
  };
  const ca = file('etcd-ca', 'TSNET_ETCD_CA');
  const cert = file('etcd-cert', 'TSNET_ETCD_CERT');
  const key = file('etcd-key', 'TSNET_ETCD_KEY');
  if ((cert || key) && !ca) throw tsnetError('TSNET_CLI_ARGS', '--etcd-cert/--etcd-key need --etcd-ca', 'pass the CA that signed the etcd server certificate');
  const username = values['etcd-user'] ?? env.TSNET_ETCD_USER;
  const passwordFile = file('etcd-password-file', 'TSNET_ETCD_PASSWORD_FILE');
  const password = passwordFile?.toString('utf8').trim() ?? env.TSNET_ETCD_PASSWORD;
  if (username && password === undefined) throw tsnetError('TSNET_CLI_ARGS', '--etcd-user needs a password', 'pass --etcd-password-file FILE or set TSNET_ETCD_PASSWORD');
  return {
    endpoints,
    prefix: values['etcd-prefix'] ?? env.TSNET_ETCD_PREFIX ?? 'tsnet/',
    tls: ca ? { ca, cert, key } : undefined,
    auth: username && password !== undefined ? { username, password } : undefined,
    dialTimeoutMs: millis('etcd-dial-timeout-ms', values['etcd-dial-timeout-ms'] ?? '3000'),
    callTimeoutMs: millis('etcd-timeout-ms', values['etcd-timeout-ms'] ?? '3000'),
  };
}

function millis(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 100 || n > 120_000) throw tsnetError('TSNET_CLI_ARGS', `--${flag} "${text}" is not an integer between 100 and 120000`);
  return n;
}
