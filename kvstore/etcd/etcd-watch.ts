import type { IKeyValue, Namespace, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { KvEvent, KvWatch, KvWatchHandlers } from '../kvstore.js';

interface WatchResponse { events: Array<{ type: string; kv: IKeyValue }>; header: { revision: string } }

/**
 * A prefix watch over etcd. The etcd3 client reconnects on its own and resumes from the last
 * revision it delivered; tsnet adds grouping (one onEvents call per transaction) and turns an
 * unrecoverable cancel (history compacted past our revision) into onResync.
 */
export async function watchPrefix(ns: Namespace, prefix: string, handlers: KvWatchHandlers, fromRevision: number | undefined, log?: Logger): Promise<KvWatch> {
  let builder = ns.watch().prefix(prefix);
  if (fromRevision !== undefined) builder = builder.startRevision(String(fromRevision + 1));
  const watcher: Watcher = await builder.create();
  let cancelled = false;
  watcher.on('data', (res: WatchResponse) => {
    if (cancelled) return;
    for (const [revision, events] of groupByRevision(res.events)) {
      try {
        handlers.onEvents(events, revision);
      } catch (err) {
        log?.error({ err }, 'watch consumer failed');
      }
    }
  });
  watcher.on('connected', () => handlers.onStatus?.('connected'));
  watcher.on('disconnected', () => handlers.onStatus?.('disconnected'));
  watcher.on('error', (err: Error) => {
    if (cancelled) return;
    cancelled = true;
    handlers.onResync?.(`etcd ended the watch: ${err.message}`);
  });
  return {
    cancel: async () => {
      if (cancelled) return;
      cancelled = true;
      await watcher.cancel().catch(() => undefined);
    },
  };
}

function groupByRevision(events: WatchResponse['events']): Array<[number, KvEvent[]]> {
  const groups = new Map<number, KvEvent[]>();
  for (const e of events) {
    const revision = Number(e.kv.mod_revision);
    const list = groups.get(revision) ?? [];
    if (e.type === 'Put') {
      const lease = e.kv.lease && e.kv.lease !== '0' ? String(e.kv.lease) : undefined;
      list.push({ type: 'put', entry: { key: e.kv.key.toString(), value: e.kv.value.toString(), createRevision: Number(e.kv.create_revision), modRevision: revision, lease } });
    } else {
      list.push({ type: 'delete', key: e.kv.key.toString(), modRevision: revision });
    }
    groups.set(revision, list);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]);
}
