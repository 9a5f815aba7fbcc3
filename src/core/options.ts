import { tsnetError } from './errors.js';
import { truncate } from './ids.js';
import { NETWORK_TYPES, type NetworkType } from './model.js';

/**
 * Parsing of the user's `docker network create -o key=value` options. Every parser names the
 * option, shows the bad value and gives an example, because Docker shows our text verbatim.
 */
export const TYPE_OPTION = 'tsnet.type';

/** Options every driver accepts (they are consumed by the CNM layer, not the driver). */
export const COMMON_OPTIONS: readonly string[] = [TYPE_OPTION];

/**
 * The network type the user asked for. `available` is what this daemon can build, so the hint
 * never offers a type that would then be refused.
 */
export function parseNetworkType(options: Readonly<Record<string, string>>, available: readonly NetworkType[] = NETWORK_TYPES): NetworkType {
  const value = options[TYPE_OPTION];
  if (value === undefined || value === '') return 'bridge';
  if ((available as readonly string[]).includes(value)) return value as NetworkType;
  const known = (NETWORK_TYPES as readonly string[]).includes(value);
  throw tsnetError('TSNET_OPT_INVALID', `network option "${TYPE_OPTION}": "${truncate(value)}" is not ${known ? 'available in this tsnet daemon' : 'a tsnet network type'}`, `use one of ${available.join(', ')}, e.g. -o ${TYPE_OPTION}=bridge`);
}

export function parseBoolOption(key: string, value: string): boolean {
  const lower = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw tsnetError('TSNET_OPT_INVALID', `network option "${key}": "${truncate(value)}" is not true or false`, `pass e.g. -o ${key}=true`);
}

export function parseIntOption(key: string, value: string, min: number, max: number, example: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw tsnetError('TSNET_OPT_INVALID', `network option "${key}": "${truncate(value)}" is not an integer between ${min} and ${max}`, `pass e.g. -o ${key}=${example}`);
  }
  return n;
}

/** Refuse options nobody will read: a typo must not silently fall back to a default. */
export function rejectUnknownOptions(options: Readonly<Record<string, string>>, known: readonly string[], driver: string): void {
  const unknown = Object.keys(options).filter((key) => !known.includes(key) && !COMMON_OPTIONS.includes(key));
  if (unknown.length === 0) return;
  const listed = unknown.slice(0, 5).map((k) => JSON.stringify(k)).join(', ');
  throw tsnetError('TSNET_OPT_UNKNOWN', `the ${driver} driver does not know network option${unknown.length > 1 ? 's' : ''} ${listed}`, `known options: ${[...COMMON_OPTIONS, ...known].join(', ')}`);
}
