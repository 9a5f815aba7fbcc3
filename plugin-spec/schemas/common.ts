import { z } from 'zod';
import { previewValue } from '../format.js';
import { goStructView } from './go-json.js';
import { isCidr, isCidr4, isCidr6, isIp, isIPv4, isIPv6, isMac } from '../validators.js';

/**
 * Building blocks shared by the request and reply schemas. Every message names the expected
 * form and previews what arrived, because it reaches the user through Docker verbatim
 * (`Interface.Address: expected an IPv4 address in CIDR form such as 10.0.0.2/24, got "10.0.0.2"`).
 */

/** Size bounds: anything larger is refused with a message rather than stored or logged. */
export const LIMITS = {
  /** NetworkID / EndpointID: Docker sends 64 hex digits; tests send shorter odd ones. */
  id: 128,
  /** PoolID: chosen by the IPAM plugin itself; Docker's own look like `LocalDefault/10.0.0.0/24/`. */
  poolId: 256,
  /** Option names, address space names, interface-name prefixes. */
  name: 256,
  /** A string option value. */
  value: 4096,
  /** A structured option value (Docker's portmap, a generic map), as JSON. */
  structured: 64 * 1024,
  /** Entries of any map or list. */
  entries: 1024,
  /** SandboxKey and other paths. */
  path: 1024,
} as const;

/** What zod hands an error function: the value that failed (undefined when the field is absent). */
interface FailedValue {
  readonly input?: unknown;
}

/**
 * An error function that states `form` and previews the value: `<form>, got "abc"`; for an
 * absent field `is required; <form>`. Used for every custom message so they read alike.
 */
export function expected(form: string): (issue: FailedValue) => string {
  return (issue) => (issue.input === undefined ? `is required; ${form}` : `${form}, got ${previewValue(issue.input)}`);
}

/** A JSON string, with a type error that names `form`. */
export function str(form: string) {
  return z.string({ error: expected(form) });
}

/** A string of at most `max` characters (any content). */
export function text(max: number, form = `expected a string of at most ${max} characters`) {
  return str(form).max(max, { error: expected(form) });
}

/** A non-empty string of at most `max` characters. */
export function name(max: number, form: string) {
  return text(max, form).min(1, { error: expected(form) });
}

/**
 * A Docker object id. Docker's are 64 hex digits; any 1..128 characters of `[A-Za-z0-9_.-]` are
 * accepted (tests and other orchestrators use shorter ones), nothing that could act as a path.
 */
export function dockerId(what: string) {
  const article = /^[aeiou]/.test(what) ? 'an' : 'a';
  const form = `expected ${article} ${what} of 1 to ${LIMITS.id} letters, digits, "_", "." or "-"`;
  return str(form)
    .min(1, { error: expected(`expected a non-empty ${what}`) })
    .max(LIMITS.id, { error: expected(`expected ${article} ${what} of at most ${LIMITS.id} characters`), abort: true })
    .regex(/^[A-Za-z0-9_.-]*$/, { error: expected(form) })
    .meta({ description: `${what}: 1 to ${LIMITS.id} characters of [A-Za-z0-9_.-]; Docker sends 64 hex digits` });
}

/** `NetworkID` of every NetworkDriver request. */
export const NetworkId = dockerId('network id');
/** `EndpointID` of every endpoint-level NetworkDriver request. */
export const EndpointId = dockerId('endpoint id');

/**
 * A string checked by `test` after a cheap length bound, with one message for every way it can
 * be wrong. `allowEmpty` admits "", which is how Docker (Go's zero value) says "none".
 */
function formatted(form: string, test: (s: string) => boolean, maxLength: number, description: string, allowEmpty: boolean) {
  return str(form)
    .max(maxLength, { error: expected(form), abort: true })
    .refine((s) => (allowEmpty && s === '') || test(s), { error: expected(form) })
    .meta({ description: allowEmpty ? `${description}, or "" for none` : description });
}

const CIDR = 'expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1/24';
const CIDR4 = 'expected an IPv4 address in CIDR form such as 10.0.0.2/24';
const CIDR6 = 'expected an IPv6 address in CIDR form such as fd00::2/64';
const IP = 'expected an IPv4 or IPv6 address such as 10.0.0.1';
const IP4 = 'expected an IPv4 address such as 10.0.0.1';
const IP6 = 'expected an IPv6 address such as fd00::1';
const MAC = 'expected a MAC address of six hex pairs such as 02:42:0a:00:00:02';

/** IPv4 or IPv6 address with prefix length (pools, gateways in CreateNetwork, aux addresses). */
export const Cidr = formatted(CIDR, isCidr, 49, 'IPv4 or IPv6 address in CIDR form', false);
/** {@link Cidr}, or "" (RequestPool's Pool/SubPool when the user gave none). */
export const CidrOrEmpty = formatted(CIDR, isCidr, 49, 'IPv4 or IPv6 address in CIDR form', true);
/** An endpoint's IPv4 address with prefix length (`Interface.Address`). */
export const Cidr4OrEmpty = formatted(CIDR4, isCidr4, 18, 'IPv4 address in CIDR form', true);
/** An endpoint's IPv6 address with prefix length (`Interface.AddressIPv6`). */
export const Cidr6OrEmpty = formatted(CIDR6, isCidr6, 49, 'IPv6 address in CIDR form', true);
/** A bare address (IPAM `Address`, port-binding IPs). */
export const Ip = formatted(IP, isIp, 45, 'IPv4 or IPv6 address', false);
/** {@link Ip}, or "" (RequestAddress without `--ip`, port bindings on all addresses). */
export const IpOrEmpty = formatted(IP, isIp, 45, 'IPv4 or IPv6 address', true);
/** A bare IPv4 address or "" (Join's `Gateway`). */
export const Ipv4OrEmpty = formatted(IP4, isIPv4, 15, 'IPv4 address', true);
/** A bare IPv6 address or "" (Join's `GatewayIPv6`). */
export const Ipv6OrEmpty = formatted(IP6, isIPv6, 45, 'IPv6 address', true);
/** Ethernet MAC as Go prints it, or "" when Docker has none to give. */
export const MacOrEmpty = formatted(MAC, isMac, 17, 'MAC address (six hex pairs separated by ":")', true);

const PORT = 'expected a port number, an integer from 0 to 65535';
/** A TCP/UDP/SCTP port; 0 means "any" in Docker's port bindings. */
export const Port = z.number({ error: expected(PORT) })
  .int({ error: expected(PORT) })
  .min(0, { error: expected(PORT) })
  .max(65535, { error: expected(PORT) });

/** IP protocol number as Docker's `types.Protocol` encodes it. */
export const Proto = z.literal([6, 17, 132], { error: expected('expected protocol 6 (tcp), 17 (udp) or 132 (sctp)') });

const BOOL = 'expected true or false';
/** A JSON boolean; the string "true" is refused (Docker sends real booleans). */
export const Bool = z.boolean({ error: expected(BOOL) });

/** A name that keys a map (option names, aux-address names). */
export const OptionName = text(LIMITS.name, `expected an option name of at most ${LIMITS.name} characters`);

/**
 * The value of an option whose meaning tsnet does not know: any JSON value, bounded. Docker
 * puts labels and structured data (lists, maps) in Options, and newer versions add keys.
 */
export const OptionValue = z.unknown().superRefine((value, ctx) => {
  if (typeof value === 'string') {
    if (value.length > LIMITS.value) {
      ctx.addIssue({ code: 'custom', message: `expected an option value of at most ${LIMITS.value} characters, got ${previewValue(value)}` });
    }
  } else if (typeof value === 'object' && value !== null && JSON.stringify(value).length > LIMITS.structured) {
    ctx.addIssue({ code: 'custom', message: `expected an option value of at most ${LIMITS.structured} bytes of JSON, got ${previewValue(value)} larger than that` });
  }
}).meta({ description: `any JSON value; strings at most ${LIMITS.value} characters, structures at most ${LIMITS.structured} bytes` });

/** A list of at most {@link LIMITS.entries} items. The length is checked before the items. */
export function list<T extends z.ZodType>(item: T, what = 'entries') {
  return z.array(item, { error: expected(`expected a list of ${what}`) })
    .max(LIMITS.entries, { error: (issue) => `expected at most ${LIMITS.entries} ${what}, got ${previewValue(issue.input)}` });
}

function countCheck(what: string) {
  return (map: object, ctx: z.core.$RefinementCtx) => {
    const count = Object.keys(map).length;
    if (count > LIMITS.entries) {
      ctx.addIssue({ code: 'custom', message: `expected at most ${LIMITS.entries} ${what}, got ${count}` });
    }
  };
}

/** A map with a bounded number of entries, e.g. Go's `map[string]string`. */
export function map<V extends z.ZodType>(value: V, what = 'options') {
  return z.record(OptionName, value, { error: expected(`expected a map of ${what}`) })
    .superRefine(countCheck(what))
    .meta({ maxProperties: LIMITS.entries });
}

/** Go's `map[string]string`: Docker's IPAM options, AllocateNetwork options, IPAM reply Data. */
export const StringMap = map(text(LIMITS.value, `expected a string option value of at most ${LIMITS.value} characters`));

/**
 * Go's `map[string]interface{}` with some keys whose shape tsnet relies on: those are checked,
 * every other key is kept as it came (bounded), because Docker adds keys over time.
 */
export function optionsObject<S extends z.ZodRawShape>(known: S) {
  return z.object(known, { error: expected('expected a map of options') })
    .catchall(OptionValue)
    .superRefine((options, ctx) => {
      countCheck('options')(options, ctx);
      for (const key of Object.keys(options)) {
        if (key.length > LIMITS.name) {
          ctx.addIssue({ code: 'custom', path: [key], message: `expected an option name of at most ${LIMITS.name} characters, got ${previewValue(key)}` });
          return;
        }
      }
    })
    .meta({ maxProperties: LIMITS.entries, propertyNames: { maxLength: LIMITS.name } });
}

/**
 * The request of a method without arguments. Docker sends an empty body (which the server turns
 * into `undefined`), other clients send `null` or `{}`; anything in an object is ignored.
 */
export const NoArguments = z.union([z.undefined(), z.null(), z.object({}).loose()], {
  error: expected('expected an empty body, null or a JSON object'),
}).meta({ description: 'no arguments: an empty body, null, or a JSON object whose fields are ignored' });

/** The top-level object of a request: known fields checked, unknown ones kept (newer Docker adds fields). */
export function request<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape, { error: expected('expected a JSON object') }).loose();
}

/**
 * A Go struct in a reply, as dockerd decodes it (see go-json.ts): keys match exactly or
 * case-insensitively, unknown keys are ignored, `null` counts as absent. Value types are still
 * checked, because a wrong type makes Go's decoder fail the call. `form` names the object in
 * messages (`expected {SrcName, DstPrefix}`).
 */
export function goStruct<S extends z.ZodRawShape>(shape: S, form: string) {
  const fields = Object.keys(shape);
  return z.preprocess((value) => goStructView(value, fields), z.object(shape, { error: expected(form) }))
    .meta({ description: 'a Go struct as dockerd decodes it (encoding/json): keys match case-insensitively, unknown keys are ignored, null counts as absent' });
}

/**
 * A success reply of a Plugin or NetworkDriver method: what dockerd accepts, no stricter (a
 * dockerd older than a field ignores it, so a plugin may announce newer capabilities to every
 * version). `Err` is Go's `Response.Err`: empty or absent, since a non-empty one is a refusal.
 */
export function reply<S extends z.ZodRawShape>(shape: S) {
  return goStruct({ ...shape, Err: z.literal('').optional() }, 'expected a JSON object');
}

/** Every NetworkDriver/Plugin method's success reply that carries no data: `{}`. */
export const EmptyResponse = reply({});

/**
 * A refusal: HTTP 200 with `Err` for a request the plugin understood but cannot carry out, and
 * the body of every 4xx/5xx (Docker's plugin client reads `Err` from any non-200 reply).
 */
export const ErrorResponse = goStruct({ Err: name(LIMITS.value, 'expected a non-empty error message') }, 'expected a JSON object with Err')
  .meta({ description: 'refusal: HTTP 200 for a request understood but refused, or the body of any 4xx/5xx; Err is matched case-insensitively, as Go does' });
