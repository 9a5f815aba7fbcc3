import { getHeapSnapshot } from 'node:v8';
import { text } from 'node:stream/consumers';
import { describe, expect, test } from 'vitest';
import { formatHeapSummary, summarizeHeap } from '../../bench/heap-summary.js';

// A snapshot in V8's format: meta describes the flat nodes array, strings holds the names.
const tiny = JSON.stringify({
  snapshot: { meta: { node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'], node_types: [['hidden', 'array', 'string', 'object', 'code', 'closure'], 'string'] } },
  nodes: [
    3, 0, 1, 100, 0, // object Map
    3, 0, 3, 50, 0, // object Map
    3, 1, 5, 30, 0, // object Peer
    2, 2, 7, 400, 0, // string
    4, 3, 9, 1000, 0, // code
  ],
  strings: ['Map', 'Peer', 'a long string', '(code)'],
});

describe('summarizeHeap', () => {
  test('sums self sizes by node type and objects by constructor, biggest first', () => {
    const s = summarizeHeap(tiny);
    expect(s.totalBytes).toBe(1580);
    expect(s.nodeCount).toBe(5);
    expect(s.byType).toEqual([{ name: 'code', bytes: 1000, count: 1 }, { name: 'string', bytes: 400, count: 1 }, { name: 'object', bytes: 180, count: 3 }]);
    expect(s.byConstructor).toEqual([{ name: 'Map', bytes: 150, count: 2 }, { name: 'Peer', bytes: 30, count: 1 }]);
    expect(formatHeapSummary(s)).toContain('objects by constructor');
  });

  test('reads a real snapshot of this process, where a retained structure shows by name', async () => {
    class HeapSummaryMarker { readonly payload = new Array<number>(16).fill(7); }
    const kept = Array.from({ length: 2000 }, () => new HeapSummaryMarker());
    const s = summarizeHeap(await text(getHeapSnapshot()), 100_000);
    expect(s.byConstructor.find((b) => b.name === 'HeapSummaryMarker')?.count).toBeGreaterThanOrEqual(kept.length);
    expect(s.totalBytes).toBeGreaterThan(1_000_000);
  });
});
