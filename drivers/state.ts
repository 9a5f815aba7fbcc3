import { z } from 'zod';
import { tsnetError } from '../src/core/errors.js';
import { shortId } from '../src/core/ids.js';
import type { NetworkRecord, NetworkType } from '../src/core/model.js';

/**
 * A network type's own state, as its records store it. The store keeps JSON; a driver reads it
 * back only through its codec, which checks it against the type's schema (filling in the
 * defaults of fields older versions did not write), so no driver works from a guess about what
 * a record holds.
 */
export interface StateCodec<S> {
  /** The state of a network of this type; refuses, naming the network, a state that does not fit. */
  of(network: NetworkRecord): S;
}

export function stateCodec<S>(type: NetworkType, schema: z.ZodType<S, unknown>): StateCodec<S> {
  // Records are immutable and read on every call of a network: check each stored object once.
  const checked = new WeakMap<object, S>();
  return {
    of(network) {
      const known = checked.get(network.driverState);
      if (known !== undefined) return known;
      const parsed = schema.safeParse(network.driverState);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? issue.path.join('.') : 'state';
        throw tsnetError('TSNET_STATE_CORRUPT',
          `the stored state of ${type} network ${shortId(network.id)} does not fit its type (${where}: ${issue?.message ?? 'invalid'})`,
          'the record was written by another program or a broken disk; remove the network (docker network rm) and create it again');
      }
      checked.set(network.driverState, parsed.data);
      return parsed.data;
    },
  };
}
