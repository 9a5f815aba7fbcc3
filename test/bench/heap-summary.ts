import { readFile } from 'node:fs/promises';

/**
 * Where a V8 heap snapshot's memory goes: self sizes summed by node type (code, strings,
 * closures, arrays…) and by constructor for objects, biggest first. Enough to tell a leak
 * or a bloated structure from the runtime's own baseline without opening DevTools.
 */
export interface HeapSummary {
  readonly totalBytes: number;
  readonly nodeCount: number;
  readonly byType: readonly Bucket[];
  readonly byConstructor: readonly Bucket[];
}

export interface Bucket {
  readonly name: string;
  readonly bytes: number;
  readonly count: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summarizeHeap(json: string, top = 12): HeapSummary {
  const snap = JSON.parse(json) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const typeNames = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byType = new Map<string, { bytes: number; count: number }>();
  const byConstructor = new Map<string, { bytes: number; count: number }>();
  const add = (map: Map<string, { bytes: number; count: number }>, key: string, bytes: number) => {
    const b = map.get(key) ?? { bytes: 0, count: 0 };
    b.bytes += bytes;
    b.count += 1;
    map.set(key, b);
  };
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = typeNames[snap.nodes[i + typeAt] as number] ?? 'unknown';
    const bytes = snap.nodes[i + sizeAt] as number;
    total += bytes;
    add(byType, type, bytes);
    if (type === 'object') add(byConstructor, snap.strings[snap.nodes[i + nameAt] as number] ?? '?', bytes);
  }
  const sorted = (map: Map<string, { bytes: number; count: number }>) =>
    [...map].map(([name, b]) => ({ name, ...b })).sort((a, b) => b.bytes - a.bytes).slice(0, top);
  return { totalBytes: total, nodeCount: snap.nodes.length / stride, byType: sorted(byType), byConstructor: sorted(byConstructor) };
}

export async function summarizeHeapFile(path: string, top?: number): Promise<HeapSummary> {
  return summarizeHeap(await readFile(path, 'utf8'), top);
}

export function formatHeapSummary(s: HeapSummary, indent = '  '): string {
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const rows = (title: string, buckets: readonly Bucket[]) =>
    [`${indent}${title}:`, ...buckets.map((b) => `${indent}  ${mib(b.bytes).padStart(10)}  ${String(b.count).padStart(8)}  ${b.name.slice(0, 60)}`)];
  return [
    `${indent}heap snapshot: ${mib(s.totalBytes)} in ${s.nodeCount} nodes`,
    ...rows('by node type (self size, count)', s.byType),
    ...rows('objects by constructor (self size, count)', s.byConstructor),
  ].join('\n');
}
