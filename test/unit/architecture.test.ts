import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

/**
 * The layering of docs/architecture.md, enforced: each folder may import only the folders below it, drivers
 * never import each other or the HTTP layer, and only the composition root builds concrete things.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Rule { readonly from: RegExp; readonly allow: readonly RegExp[] }
const NODE = /^node:/;
const RULES: readonly Rule[] = [
  { from: /^plugin-spec\//, allow: [/^plugin-spec\//, /^zod$/, NODE, /^vitest$/] },
  { from: /^src\/core\//, allow: [/^src\/core\//, NODE] },
  { from: /^src\/host\//, allow: [/^src\/host\//, /^src\/core\//, NODE, /^pino$/] },
  { from: /^kvstore\//, allow: [/^kvstore\//, /^src\/core\//, NODE, /^pino$/, /^etcd3$/, /^cockatiel$/, /^vitest$/] },
  // drivers/*.ts: the contract and what several types share (veth pairs, parents, sub-interfaces).
  // zod: each type's stored state has a schema (drivers/state.ts).
  { from: /^drivers\/[\w-]+\.ts$/, allow: [/^drivers\/[\w-]+\.ts$/, /^src\/core\//, /^src\/host\//, /^pino$/, /^zod$/] },
  { from: /^drivers\/(\w+)\//, allow: [/^drivers\/[\w-]+\.ts$/, /^src\/core\//, /^src\/host\//, /^kvstore\/(kvstore|cas)\.ts$/, NODE, /^pino$/, /^zod$/] },
  { from: /^src\/ipam\//, allow: [/^src\/ipam\//, /^kvstore\/(kvstore|cas)\.ts$/, /^src\/core\//, NODE, /^pino$/] },
  { from: /^src\/cnm\//, allow: [/^src\/cnm\//, /^drivers\/driver\.ts$/, /^kvstore\/kvstore\.ts$/, /^src\/core\//, /^src\/host\/(firewall|hostnet)\.ts$/, NODE, /^pino$/] },
  // src/admin shows the peer programmer's and the IPAM's reports: it imports their types only,
  // and closes its servers as the plugin's is closed (src/api/prompt-close.ts).
  { from: /^src\/admin\//, allow: [/^src\/admin\//, /^src\/api\/prompt-close\.ts$/, /^src\/core\//, /^src\/docker\//, /^drivers\/overlay\/peers\.ts$/, /^src\/ipam\/address-space\.ts$/, /^fastify$/, /^pino$/, /^prom-client$/, NODE] },
  { from: /^src\/docker\//, allow: [/^src\/docker\//, /^src\/core\//, NODE] },
  { from: /^src\/dns\//, allow: [/^src\/dns\//, /^src\/core\//, NODE, /^pino$/, /^dns-packet$/] },
  { from: /^src\/names\//, allow: [/^src\/names\//, /^src\/core\//, /^src\/docker\//, /^src\/dns\/answer\.ts$/, NODE, /^pino$/] },
  // tsnet doctor: reads the host through src/host's Runner, asks Docker and etcd; never a driver or the daemon's store.
  { from: /^src\/doctor\//, allow: [/^src\/doctor\//, /^src\/core\//, /^src\/host\/(runner|iproute2)\.ts$/, /^src\/docker\//, /^kvstore\/etcd\/etcd-kv-store\.ts$/, NODE] },
  { from: /^src\/api\//, allow: [/^src\/api\//, /^plugin-spec\//, /^src\/cnm\//, /^src\/ipam\//, /^src\/core\//, /^drivers\/driver\.ts$/, /^fastify$/, /^zod$/, /^pino$/, NODE] },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'json-schema' || e.name === 'fixtures' ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);
  return specs.map((spec) => spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts') : spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
}

test('imports follow the layering', () => {
  const violations: string[] = [];
  for (const file of ['plugin-spec', 'src', 'kvstore', 'drivers'].flatMap(sourceFiles)) {
    const rule = RULES.find((r) => r.from.test(file));
    if (!rule) continue; // src/main.ts, cli.ts, config.ts, socket.ts: the composition root
    const driver = /^drivers\/(\w+)\//.exec(file)?.[1];
    for (const target of importsOf(file)) {
      const ownDriver = driver !== undefined && target.startsWith(`drivers/${driver}/`);
      if (!ownDriver && !rule.allow.some((a) => a.test(target))) violations.push(`${file} imports ${target}`);
    }
  }
  expect(violations).toEqual([]);
});
