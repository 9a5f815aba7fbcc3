import { isIPv4 as isIPv4Address, isIPv6 as isIPv6Address } from 'node:net';
import { z } from 'zod';

/**
 * Building blocks shared by the request and response schemas. Messages always name the
 * expected form, because they reach the user through Docker verbatim.
 */
export const isIPv4 = (text: string): boolean => isIPv4Address(text);
export const isIPv6 = (text: string): boolean => isIPv6Address(text);

export function isIp(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const ip = text.slice(0, slash);
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return false;
  if (isIPv4(ip)) return Number(prefix) <= 32;
  if (isIPv6(ip)) return Number(prefix) <= 128;
  return false;
}

export const MAX_ID = 128;
export const MAX_TEXT = 4096;
export const MAX_ENTRIES = 1024;

/** Docker's network and endpoint ids are 64 hex digits; tsnet accepts any short plain id. */
export const id = z.string({ error: 'expected an id string' })
  .min(1, { error: 'must not be empty' })
  .max(MAX_ID, { error: `expected at most ${MAX_ID} characters` })
  .regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected letters, digits, "_", "." or "-" only' });

export const cidr = z.string({ error: 'expected an address in CIDR form such as 10.0.0.1/24' })
  .max(64, { error: 'expected an address in CIDR form such as 10.0.0.1/24' })
  .refine(isCidr, { error: 'expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1/24' });

/** "" is how Docker says "none". */
export const optionalCidr = z.union([z.literal(''), cidr]).optional();

export const ip = z.string({ error: 'expected an IP address such as 10.0.0.1' })
  .max(45, { error: 'expected an IP address such as 10.0.0.1' })
  .refine(isIp, { error: 'expected an IPv4 or IPv6 address such as 10.0.0.1' });

export const optionalIp = z.union([z.literal(''), ip]).optional();

export const mac = z.string({ error: 'expected a MAC address such as 02:42:0a:00:00:02' })
  .regex(/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/, { error: 'expected a MAC address such as 02:42:0a:00:00:02' });

export const port = z.number({ error: 'expected a port number' }).int({ error: 'expected an integer port' })
  .min(0, { error: 'expected a port between 0 and 65535' }).max(65535, { error: 'expected a port between 0 and 65535' });

export const proto = z.literal([6, 17, 132], { error: 'expected protocol 6 (tcp), 17 (udp) or 132 (sctp)' });

export const text = z.string().max(MAX_TEXT, { error: `expected at most ${MAX_TEXT} characters` });

/** A bounded map with arbitrary JSON values (Docker puts labels and structured data in Options). */
export const optionsMap = z.record(z.string().max(256, { error: 'option names are at most 256 characters' }), z.unknown())
  .refine((m) => Object.keys(m).length <= MAX_ENTRIES, { error: `expected at most ${MAX_ENTRIES} options` })
  .refine((m) => JSON.stringify(m).length <= 256 * 1024, { error: 'options are larger than 256 KiB' });

export const stringMap = z.record(z.string().max(256), text)
  .refine((m) => Object.keys(m).length <= MAX_ENTRIES, { error: `expected at most ${MAX_ENTRIES} entries` });

export function boundedArray<T extends z.ZodType>(item: T) {
  return z.array(item).max(MAX_ENTRIES, { error: `expected at most ${MAX_ENTRIES} entries` });
}

/** Methods without arguments: Docker sends no body, `null`, or (other clients) `{}`. */
export const noArguments = z.union([z.undefined(), z.null(), z.object({}).loose()]);

/** Every reply may carry Err instead of its fields. */
export const errorResponse = z.object({ Err: z.string() });
