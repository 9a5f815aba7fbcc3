import fc from 'fast-check';
import { toJsonSchemas } from '../../../plugin-spec/json-schema.js';
import { methods, methodNames, type MethodName } from '../../../plugin-spec/methods.js';
import {
  BASE64_MAC_VALUES, BOOL_TEXT_VALUES, HOSTILE_STRINGS, HOST_IP_VALUES, ID_VALUES, IFNAME_VALUES, MAC_VALUES, MTU_VALUES,
  NON_STRING_OPTION_VALUES, OPTION_KEYS, PORT_VALUES, PROTO_VALUES, SANDBOX_VALUES, SPACE_VALUES, TYPE_VALUES, WRONG_TYPES,
  endpointValues4, endpointValues6, gatewayValues4, gatewayValues6, ipamAddressValues, poolValues4, poolValues6, type HostileValue,
} from './hostile.js';
import { POOL_TOKEN, type Ctx, type FuzzCase, type HostileSlot, type SetupKind, type Step } from './model.js';

/**
 * fast-check arbitraries for fuzz cases, three ways:
 * - from the schemas: the JSON Schema of each method's request (generated from the zod schemas
 *   in plugin-spec, so a field added there is fuzzed here) is walked, and every slot gets either
 *   a valid value for the case (so the call reaches the code behind the schema) or a hostile
 *   one from ./hostile.ts chosen by the slot's name, or a value of the wrong type;
 * - by mutating requests a real dockerd sent (plugin-spec/fixtures/*.jsonl): drop, duplicate,
 *   retype or poison fields, or break the JSON text;
 * - as sequences the issue names (CreateEndpoint twice with different addresses,
 *   ProgramExternalConnectivity before Join, HostIP "::1" on an IPv4-only endpoint, …).
 */

// ---------------------------------------------------------------- hostile markers in a value tree

/** A hostile value placed in a tree; {@link materialize} records its path. */
class Poison {
  constructor(readonly hostile: HostileValue) {}
}
/** A required field left out. */
class Dropped {}
/** An object plus entries under hostile keys (`__proto__`…), added as own properties. */
class WithKeys {
  constructor(readonly base: unknown, readonly extra: ReadonlyArray<readonly [HostileValue, unknown]>) {}
}

const poison = (values: readonly HostileValue[]): fc.Arbitrary<Poison> => fc.constantFrom(...values).map((v) => new Poison(v));
const strings = (values: readonly string[]): HostileValue[] => values.map((value) => ({ value }));

/** Turns a tree with markers into plain JSON data, listing the hostile slots. */
export function materialize(tree: unknown, path = ''): { value: unknown; hostile: HostileSlot[] } {
  const hostile: HostileSlot[] = [];
  const walk = (node: unknown, at: string): unknown => {
    if (node instanceof Poison) {
      hostile.push({ path: at || '(body)', value: node.hostile.value, ...(node.hostile.mustRefuse ? { mustRefuse: node.hostile.mustRefuse } : {}) });
      return node.hostile.value;
    }
    if (node instanceof Dropped) {
      hostile.push({ path: at, value: '(missing)' });
      return undefined;
    }
    if (node instanceof WithKeys) {
      const obj = walk(node.base, at);
      const target: Record<string, unknown> = obj && typeof obj === 'object' && !Array.isArray(obj) ? obj as Record<string, unknown> : {};
      for (const [key, value] of node.extra) {
        const name = String(key.value);
        const slot = `${at}.<key ${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…(${name.length})` : name)}>`;
        hostile.push({ path: slot, value: name, ...(key.mustRefuse ? { mustRefuse: key.mustRefuse } : {}) });
        // defineProperty: an own "__proto__" key, as JSON.parse would make it, not the prototype setter.
        Object.defineProperty(target, name, { value: walk(value, slot), enumerable: true, writable: true, configurable: true });
      }
      return target;
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${at}[${i}]`));
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        if (v === undefined) continue; // an omitted optional field
        const value = walk(v, at ? `${at}.${k}` : k);
        if (v instanceof Dropped) continue;
        Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return node;
  };
  const value = walk(tree, path);
  return { value, hostile };
}

// ---------------------------------------------------------------- contexts

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

/** Ids and addresses of one case: 10.[64-191].x.0/24 never collides with the hostile catalogues' 10.250/10.9. */
export const ctxArb: fc.Arbitrary<Ctx> = fc.record({
  a: fc.integer({ min: 64, max: 191 }), b: fc.integer({ min: 0, max: 255 }),
  netId: hex(64), epId: hex(64), ep2Id: hex(64), sb: hex(12),
}).map(({ a, b, netId, epId, ep2Id, sb }) => ({ netId, epId, ep2Id, net: `10.${a}.${b}`, net6: `fd00:${a}:${b}`, sandboxKey: `/var/run/docker/netns/${sb}` }));

// ---------------------------------------------------------------- schema-driven requests

/** The JSON Schema subset zod emits for the request schemas. */
interface Js {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, Js>>;
  readonly required?: readonly string[];
  readonly anyOf?: readonly Js[];
  readonly items?: Js;
  readonly enum?: readonly unknown[];
  readonly additionalProperties?: Js | boolean;
  readonly minimum?: number;
  readonly maximum?: number;
}

const schemas = toJsonSchemas();

interface Env { readonly method: MethodName; readonly ctx: Ctx }

/** Valid most of the time, hostile often, the wrong type sometimes. */
function slot(valid: fc.Arbitrary<unknown>, hostile: readonly HostileValue[], weights: readonly [number, number, number] = [6, 3, 1]): fc.Arbitrary<unknown> {
  const options: Array<fc.WeightedArbitrary<unknown>> = [{ weight: weights[0], arbitrary: valid }];
  if (hostile.length > 0 && weights[1] > 0) options.push({ weight: weights[1], arbitrary: poison(hostile) });
  if (weights[2] > 0) options.push({ weight: weights[2], arbitrary: poison(WRONG_TYPES) });
  return fc.oneof(...options);
}

const someHostileStrings = strings(HOSTILE_STRINGS);

/** Without the issue's "must refuse": only Docker's `-o` options must refuse such keys and values (defect 9). */
const plain = (values: readonly HostileValue[]): HostileValue[] => values.map(({ value }) => ({ value }));

/**
 * Extra entries under hostile keys for an options-like object, now and then. `strict`: the map
 * is Docker's `-o` options, where the issue says such keys and values must be refused; other
 * maps (endpoint options, IPAM options, discovery data) pass unknown keys through.
 */
function withHostileKeys(base: fc.Arbitrary<unknown>, strict = false): fc.Arbitrary<unknown> {
  const keys = strict ? OPTION_KEYS : plain(OPTION_KEYS);
  const values = strict ? [...NON_STRING_OPTION_VALUES, ...someHostileStrings] : plain([...NON_STRING_OPTION_VALUES, ...someHostileStrings]);
  return fc.oneof(
    { weight: 5, arbitrary: base },
    { weight: 1, arbitrary: fc.tuple(base, fc.array(fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...values).map((v) => new Poison(v))), { minLength: 1, maxLength: 2 }))
      .map(([b, extra]) => new WithKeys(b, extra)) },
  );
}

/** A named slot's generator, or undefined to fall back to the schema's type. */
function named(name: string, path: readonly string[], schema: Js, env: Env): fc.Arbitrary<unknown> | undefined {
  const { ctx, method } = env;
  const in6 = path.includes('IPv6Data');
  const ipam = method.startsWith('IpamDriver.');
  switch (name) {
    case 'NetworkID': return slot(fc.oneof({ weight: 6, arbitrary: fc.constant(ctx.netId) }, { weight: 1, arbitrary: hex(64) }), [...ID_VALUES, ...someHostileStrings]);
    case 'EndpointID': return slot(fc.oneof({ weight: 4, arbitrary: fc.constant(ctx.epId) }, { weight: 2, arbitrary: fc.constant(ctx.ep2Id) }, { weight: 1, arbitrary: hex(64) }), [...ID_VALUES, ...someHostileStrings]);
    case 'PoolID': return slot(fc.oneof({ weight: 6, arbitrary: fc.constant(POOL_TOKEN) }, { weight: 1, arbitrary: fc.constant(`tsnet-local/${ctx.net}.0/24/`) }), [...ID_VALUES, ...someHostileStrings, ...strings(['tsnet-local/', 'tsnet-local/0.0.0.0/0/', 'tsnet-global/10.1.0.0/24/', `tsnet-local/${ctx.net}.0/24/../`])]);
    case 'AddressSpace': return slot(fc.constant(ipam ? 'tsnet-local' : 'LocalDefault'), SPACE_VALUES, [6, 2, 1]);
    case 'Pool':
      if (ipam) return slot(fc.constantFrom(`${ctx.net}.0/24`, '', `${ctx.net6}::/64`), [...poolValues4(), ...poolValues6()].map(({ value }) => ({ value })));
      if (method !== 'NetworkDriver.CreateNetwork') return in6 ? slot(fc.constant(`${ctx.net6}::/64`), plain(poolValues6())) : slot(fc.constant(`${ctx.net}.0/24`), plain(poolValues4()));
      return in6 ? slot(fc.constant(`${ctx.net6}::/64`), poolValues6()) : slot(fc.constant(`${ctx.net}.0/24`), poolValues4());
    case 'SubPool': return slot(fc.constantFrom('', `${ctx.net}.128/25`), strings(['10.250.0.0/25', `${ctx.net}.0/23`, `${ctx.net}.128/24`, '0.0.0.0/0', 'fd00::/64', `${ctx.net}.128/33`]));
    case 'Gateway':
      if (method !== 'NetworkDriver.CreateNetwork') return slot(fc.constant(in6 ? `${ctx.net6}::1/64` : `${ctx.net}.1/24`), plain(in6 ? gatewayValues6(ctx.net6) : gatewayValues4(ctx.net)));
      return in6 ? slot(fc.constantFrom(`${ctx.net6}::1/64`, ''), gatewayValues6(ctx.net6)) : slot(fc.constantFrom(`${ctx.net}.1/24`, `${ctx.net}.1/24`, ''), gatewayValues4(ctx.net));
    case 'AuxAddresses': return slot(fc.constantFrom(null, {}, { a1: `${ctx.net}.10/24` }), [
      { value: { a1: '10.250.250.1/24' } }, { value: { a1: `${ctx.net}.1/24` } }, { value: { a1: `${ctx.net}.0/24` } }, { value: { a1: 'fd00::1/64' } }, { value: { '': `${ctx.net}.10/24` } },
    ]);
    case 'Address':
      if (method === 'IpamDriver.ReleaseAddress') return slot(fc.constantFrom(`${ctx.net}.7`, `${ctx.net}.1`), ipamAddressValues(ctx.net));
      if (ipam) return slot(fc.constantFrom('', `${ctx.net}.7`), ipamAddressValues(ctx.net));
      if (path.includes('Interface')) return slot(fc.constantFrom(`${ctx.net}.2/24`, `${ctx.net}.3/24`, ''), endpointValues4(ctx.net));
      return slot(fc.constantFrom('10.0.0.1', ''), someHostileStrings);
    case 'AddressIPv6': return slot(fc.constantFrom('', '', `${ctx.net6}::2/64`), endpointValues6(ctx.net6));
    case 'MacAddress': return slot(fc.constantFrom('', '02:42:0a:00:00:05'), MAC_VALUES);
    case 'SandboxKey': return slot(fc.constant(ctx.sandboxKey), SANDBOX_VALUES);
    case 'Proto': return slot(fc.constantFrom(6, 17, 132), PROTO_VALUES, [8, 2, 1]);
    case 'Port': return slot(fc.constantFrom(80, 443, 53), PORT_VALUES, [8, 2, 1]);
    case 'HostPort': return slot(fc.integer({ min: 20000, max: 29999 }), PORT_VALUES, [8, 2, 1]);
    case 'HostPortEnd': return slot(fc.constant(0), PORT_VALUES, [8, 2, 1]);
    case 'IP': return slot(fc.constantFrom('', `${ctx.net}.2`), strings(['::1', '10.250.250.7', '0.0.0.0', 'x']), [8, 2, 1]);
    // "::1" must be refused where it publishes on an IPv4-only endpoint: ProgramExternalConnectivity (the setups' endpoints are IPv4-only).
    case 'HostIP': return slot(fc.constantFrom('', '0.0.0.0', '127.0.0.1'), method === 'NetworkDriver.ProgramExternalConnectivity' ? HOST_IP_VALUES : plain(HOST_IP_VALUES));
    case 'V6': return slot(fc.boolean(), [], [6, 0, 1]);
    case 'DiscoveryType': return slot(fc.constant(1), strings([]).concat([{ value: 0 }, { value: 2 }, { value: -1 }, { value: 2 ** 53 }]));
    case 'IPv4Data': return ipamDataList(path, schema, env, false);
    case 'IPv6Data': return ipamDataList(path, schema, env, true);
    case 'com.docker.network.generic': return genericOptions(ctx);
    case 'com.docker.network.endpoint.macaddress': return slot(fc.constant('AkIKAAAF'), method === 'NetworkDriver.CreateEndpoint' ? BASE64_MAC_VALUES : plain(BASE64_MAC_VALUES));
    case 'com.docker.network.internal':
    case 'com.docker.network.enable_ipv6': return slot(fc.boolean(), strings(['true', 'false', '']), [6, 1, 1]);
    case 'com.docker.network.portmap': return portmap(path, schema, env);
    case 'Options':
      // Structured options (the union, or its object branch when the walk recurses): walk the schema.
      if (schema.properties || schema.type === 'null' || schema.anyOf?.some((b) => b.properties)) return undefined;
      return stringMapOptions(ctx);
    default: return undefined;
  }
}

/** Docker's `-o` options under com.docker.network.generic, known keys with valid or hostile values. */
function genericOptions(ctx: Ctx): fc.Arbitrary<unknown> {
  const known = fc.record({
    'com.docker.network.bridge.name': slot(fc.constant(`tsfz${ctx.net.split('.').slice(1).join('x')}`), [...IFNAME_VALUES, ...NON_STRING_OPTION_VALUES], [2, 3, 0]),
    'com.docker.network.driver.mtu': slot(fc.constantFrom('1500', '1400'), [...MTU_VALUES, ...NON_STRING_OPTION_VALUES], [2, 2, 0]),
    'com.docker.network.bridge.enable_icc': slot(fc.constantFrom('true', 'false'), [...BOOL_TEXT_VALUES, ...NON_STRING_OPTION_VALUES], [2, 1, 0]),
    'com.docker.network.bridge.enable_ip_masquerade': slot(fc.constantFrom('true', 'false'), [...BOOL_TEXT_VALUES, ...NON_STRING_OPTION_VALUES], [2, 1, 0]),
    'tsnet.type': slot(fc.constant('bridge'), [...TYPE_VALUES, ...NON_STRING_OPTION_VALUES], [2, 1, 0]),
  }, { requiredKeys: [] });
  return fc.oneof(
    { weight: 8, arbitrary: withHostileKeys(known, true) },
    { weight: 1, arbitrary: poison([{ value: null }, { value: [] }, { value: 'bridge' }, { value: { 'com.docker.network.bridge.name': { nested: '+' } }, mustRefuse: 'a network option value that is not a string' }]) },
  );
}

/** Go's map[string]string Options of the IPAM methods and AllocateNetwork. */
function stringMapOptions(ctx: Ctx): fc.Arbitrary<unknown> {
  const base = fc.constantFrom(null, {}, { 'tsnet.scope': 'local' }, { RequestAddressType: 'com.docker.network.gateway' }, { 'com.docker.network.endpoint.name': `c${ctx.net}` });
  return slot(withHostileKeys(base), [{ value: { 'tsnet.scope': 'global' } }, { value: { 'tsnet.scope': 'x' } }, { value: { RequestAddressType: '+' } }, { value: { 'tsnet.scope': 1 } }], [6, 2, 1]);
}

/** IPv4Data/IPv6Data: the case's pool, hostile pools, or lists Docker never sends (duplicates, overlaps). */
function ipamDataList(path: readonly string[], schema: Js, env: Env, v6: boolean): fc.Arbitrary<unknown> {
  const itemSchema = branches(schema).find((b) => b.type === 'array')?.items ?? {};
  const item = fromSchema(itemSchema, [...path, '[]'], env);
  const { net, net6 } = env.ctx;
  const same = v6 ? { AddressSpace: 'LocalDefault', Pool: `${net6}::/64`, Gateway: `${net6}::1/64` } : { AddressSpace: 'LocalDefault', Pool: `${net}.0/24`, Gateway: `${net}.1/24` };
  const overlapping = v6 ? { AddressSpace: 'LocalDefault', Pool: `${net6}::/80`, Gateway: `${net6}::1/80` } : { AddressSpace: 'LocalDefault', Pool: `${net}.0/25`, Gateway: `${net}.1/25` };
  const create = env.method === 'NetworkDriver.CreateNetwork'; // AllocateNetwork (swarm) may ignore its data
  const special = poison([
    { value: [same, same], ...(create ? { mustRefuse: 'the same pool twice in one network' } : {}) },
    { value: [same, overlapping], ...(create ? { mustRefuse: 'overlapping pools in one network' } : {}) },
    { value: [] }, { value: null },
  ]);
  if (v6) return fc.oneof({ weight: 6, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(item, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: special });
  return fc.oneof({ weight: 8, arbitrary: fc.array(item, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: special }, { weight: 1, arbitrary: poison(WRONG_TYPES) });
}

/** Port bindings: schema-walked entries, plus reversed ranges. */
function portmap(path: readonly string[], schema: Js, env: Env): fc.Arbitrary<unknown> {
  const itemSchema = branches(schema).find((b) => b.type === 'array')?.items ?? {};
  const item = fromSchema(itemSchema, [...path, '[]'], env);
  const reversed = fc.integer({ min: 20010, max: 29999 }).map((p) => new Poison({ value: [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: p, HostPortEnd: p - 10 }], mustRefuse: 'a host port range whose end is below its start' }));
  return fc.oneof({ weight: 6, arbitrary: fc.array(item, { maxLength: 2 }) }, { weight: 1, arbitrary: reversed }, { weight: 1, arbitrary: fc.constant(null) });
}

function branches(schema: Js): readonly Js[] {
  return schema.anyOf ?? [schema];
}

/** A value for `schema` at `path`: a named slot's generator, or one built from the schema's shape. */
function fromSchema(schema: Js, path: readonly string[], env: Env): fc.Arbitrary<unknown> {
  const name = path.at(-1) ?? '';
  const byName = named(name, path, schema, env);
  if (byName) return byName;
  if (schema.anyOf) {
    const options = schema.anyOf.map((b) => fromSchema(b, path, env));
    return options.length === 1 ? options[0] as fc.Arbitrary<unknown> : fc.oneof(...options);
  }
  if (schema.enum) return slot(fc.constantFrom(...schema.enum), []);
  switch (schema.type) {
    case 'object': {
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, prop] of Object.entries(schema.properties ?? {})) shape[key] = fromSchema(prop, [...path, key], env);
      const required = schema.required ?? [];
      // Optional fields are left out now and then; required ones occasionally (a hostile omission).
      const record = fc.record(shape, { requiredKeys: [...required] });
      const dropRequired = required.length > 0
        ? fc.tuple(record, fc.constantFrom(...required)).map(([r, key]) => {
          return { ...(r as Record<string, unknown>), [key]: new Dropped() };
        })
        : record;
      const base = fc.oneof({ weight: 12, arbitrary: record }, { weight: 1, arbitrary: dropRequired });
      return schema.additionalProperties === false ? base : withHostileKeys(base);
    }
    case 'array': return fc.array(fromSchema(schema.items ?? {}, [...path, '[]'], env), { maxLength: 2 });
    case 'string': return slot(fc.string({ maxLength: 8 }), someHostileStrings, [3, 3, 1]);
    case 'integer':
    case 'number': return slot(fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 100, 100) }), PORT_VALUES);
    case 'boolean': return slot(fc.boolean(), [], [6, 0, 1]);
    default: return poison([...WRONG_TYPES, ...someHostileStrings]);
  }
}

/** Bodies for the methods without arguments (Docker sends none): empty, null, objects, junk. */
const NO_ARGUMENT_BODIES: ReadonlyArray<string | undefined> = [undefined, '', 'null', '{}', '{"x":1}', '[]', '"str"', '1', 'true', '{', '{"Implements":"x"}', ' ', '\n'];

/** Raw-text damage to an otherwise generated body. */
function damageText(text: string, how: number): { text: string; note: string } {
  switch (how % 6) {
    case 0: return { text: text.slice(0, Math.max(1, Math.floor(text.length / 2))), note: 'truncated JSON' };
    case 1: return { text: `\uFEFF${text}`, note: 'byte-order mark' };
    case 2: return { text: text.replace(/^\{/, '{"NetworkID":1,'), note: 'duplicate key (first is a number)' };
    case 3: return { text: `[${text}]`, note: 'wrapped in a list' };
    case 4: return { text: `${'['.repeat(5000)}${']'.repeat(5000)}`, note: 'deeply nested lists' };
    default: return { text: `${text}${' '.repeat(1024 * 1024)}`, note: 'over 1 MiB' };
  }
}

/** A schema-driven call of `method` for the case. */
export function schemaStep(method: MethodName, ctx: Ctx): fc.Arbitrary<Step> {
  if (methods[method].noArguments) {
    return fc.constantFrom(...NO_ARGUMENT_BODIES).map((body) => ({ method, body, hostile: body === undefined || body === '' ? [] : [{ path: '(body)', value: body }], origin: 'schema' as const }));
  }
  const request = (schemas[method].request ?? {}) as Js;
  const env: Env = { method, ctx };
  return fc.tuple(fromSchema(request, [], env), fc.nat({ max: 59 })).map(([tree, damage]) => {
    const { value, hostile } = materialize(tree);
    let body = JSON.stringify(value);
    let note: string | undefined;
    if (damage < 2) {
      const damaged = damageText(body, damage * 3 + (body.length % 3));
      body = damaged.text;
      note = damaged.note;
      hostile.push({ path: '(body)', value: damaged.note });
    }
    return { method, body, hostile, origin: 'schema' as const, ...(note ? { note } : {}) };
  });
}

// ---------------------------------------------------------------- fixture mutations

/** One recorded request (plugin-spec/fixtures/*.jsonl). */
export interface Recorded {
  readonly method: string;
  readonly body: string;
  readonly source: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path in a JSON value (objects and lists included), as key lists. */
function paths(value: Json, prefix: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> {
  const out: Array<ReadonlyArray<string | number>> = [];
  if (Array.isArray(value)) value.forEach((v, i) => { out.push([...prefix, i], ...paths(v, [...prefix, i])); });
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  return out;
}

function getAt(value: Json, path: ReadonlyArray<string | number>): Json | undefined {
  let node: Json | undefined = value;
  for (const key of path) node = node && typeof node === 'object' ? (node as Record<string, Json>)[key as string] : undefined;
  return node;
}

function parentOf(value: Json, path: ReadonlyArray<string | number>): { parent: Record<string, Json> | Json[]; key: string | number } | undefined {
  const parent = getAt(value, path.slice(0, -1));
  const key = path.at(-1);
  return parent && typeof parent === 'object' && key !== undefined ? { parent, key } : undefined;
}

const MUTATIONS = ['drop', 'duplicate', 'retype', 'poison', 'rename'] as const;

/** Ids in recorded bodies are replaced by the case's, so mutations meet the setup's objects. */
function adopt(body: string, ctx: Ctx): string {
  return body
    .replace(/"NetworkID":"[0-9a-f]{64}"/g, `"NetworkID":"${ctx.netId}"`)
    .replace(/"EndpointID":"[0-9a-f]{64}"/g, `"EndpointID":"${ctx.epId}"`)
    .replace(/10\.199\.\d+/g, ctx.net)
    .replace(/fakelocal|LocalDefault/g, (m) => (m === 'fakelocal' ? 'tsnet-local' : m))
    .replace(/"PoolID":"tsnet-local\/[^"]*"/g, `"PoolID":"${POOL_TOKEN}"`);
}

/** A recorded request, adapted to the case, with 1-3 mutations. */
export function fixtureStep(recorded: readonly Recorded[], ctx: Ctx): fc.Arbitrary<Step> {
  return fc.tuple(
    fc.constantFrom(...recorded),
    fc.array(fc.tuple(fc.constantFrom(...MUTATIONS), fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 }),
    fc.nat({ max: 19 }),
  ).map(([rec, mutations, textDamage]) => {
    const adopted = adopt(rec.body, ctx);
    const hostile: HostileSlot[] = [];
    const notes: string[] = [];
    let body: string | undefined = adopted;
    let data: Json | undefined;
    try { data = adopted.trim() === '' ? undefined : JSON.parse(adopted) as Json; } catch { data = undefined; }
    if (data !== undefined && data !== null && typeof data === 'object') {
      for (const [kind, pick, pick2] of mutations) {
        const all = paths(data);
        if (all.length === 0) break;
        const path = all[pick % all.length] as ReadonlyArray<string | number>;
        const at = parentOf(data, path);
        if (!at) continue;
        const shown = path.join('.');
        const { parent, key } = at;
        const set = (v: Json) => { (parent as Record<string | number, Json>)[key] = v; };
        switch (kind) {
          case 'drop':
            if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key as string];
            notes.push(`drop ${shown}`); hostile.push({ path: shown, value: '(dropped)' });
            break;
          case 'duplicate': {
            const v = getAt(data, path) as Json;
            if (Array.isArray(parent)) parent.push(structuredClone(v));
            else {
              const siblings = Object.keys(parent);
              const other = siblings[pick2 % siblings.length] ?? String(key);
              parent[other] = structuredClone(v);
              notes.push(`copy ${shown} to ${other}`);
              hostile.push({ path: [...path.slice(0, -1), other].join('.'), value: v });
            }
            if (Array.isArray(parent)) { notes.push(`duplicate ${shown}`); hostile.push({ path: shown, value: v }); }
            break;
          }
          case 'retype': {
            const v = WRONG_TYPES[pick2 % WRONG_TYPES.length]?.value as Json;
            set(structuredClone(v)); notes.push(`retype ${shown}`); hostile.push({ path: shown, value: v });
            break;
          }
          case 'poison': {
            const v = HOSTILE_STRINGS[pick2 % HOSTILE_STRINGS.length] as string;
            set(v); notes.push(`poison ${shown}`); hostile.push({ path: shown, value: v });
            break;
          }
          case 'rename':
            if (!Array.isArray(parent)) {
              const v = parent[key as string] as Json;
              delete parent[key as string];
              parent[String(key).toLowerCase() === String(key) ? String(key).toUpperCase() : String(key).toLowerCase()] = v;
              notes.push(`rename ${shown}`); hostile.push({ path: shown, value: '(renamed)' });
            }
            break;
        }
      }
      body = JSON.stringify(data);
    } else if (data === undefined) {
      body = ['null', '{}', '[]', 'x'][(mutations[0]?.[1] ?? 0) % 4];
      notes.push(`empty body replaced by ${body}`); hostile.push({ path: '(body)', value: body });
    }
    if (textDamage === 0 && body) {
      const damaged = damageText(body, mutations.length);
      body = damaged.text; notes.push(damaged.note); hostile.push({ path: '(body)', value: damaged.note });
    }
    return { method: rec.method, body, hostile, origin: 'fixture' as const, note: `${rec.source}: ${notes.join(', ')}` };
  });
}

// ---------------------------------------------------------------- sequences the issue names

const call = (method: MethodName, body: unknown, extra: Partial<Step> = {}): Step => ({ method, body: JSON.stringify(body), hostile: [], origin: 'sequence', ...extra });
const portBinding = (hostIp: string, hostPort: number) => ({ Proto: 6, IP: '', Port: 80, HostIP: hostIp, HostPort: hostPort, HostPortEnd: hostPort });

/** Calls built around one rule each (most must be refused), with the setup they need. */
export function sequenceTemplates(ctx: Ctx): Array<{ readonly setup: SetupKind; readonly steps: readonly Step[] }> {
  const { netId, epId, ep2Id, net, net6 } = ctx;
  return [
    ({ setup: 'endpoint', steps: [call('NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: epId, Interface: { Address: `${net}.3/24`, AddressIPv6: '', MacAddress: '' }, Options: {} },
      { mustRefuse: 'CreateEndpoint repeated with the same id and a different address (defect 7)', note: 'CreateEndpoint twice, different address' })] }),
    ({ setup: 'endpoint', steps: [call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: netId, EndpointID: epId, Options: { 'com.docker.network.portmap': [portBinding('', 21000 + (parseInt(net.split('.')[2] ?? '0', 10)))] } },
      { mustRefuse: 'ProgramExternalConnectivity for an endpoint that never joined (defect 8)', note: 'ProgramExternalConnectivity before Join' })] }),
    ({ setup: 'joined', steps: [call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: netId, EndpointID: epId, Options: { 'com.docker.network.portmap': [portBinding('::1', 22000 + (parseInt(net.split('.')[2] ?? '0', 10)))] } },
      { mustRefuse: 'HostIP "::1" on an IPv4-only endpoint (defect 8)', note: 'HostIP ::1 on an IPv4-only endpoint' })] }),
    ({ setup: 'endpoint', steps: [call('NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: ep2Id, Interface: { Address: `${net}.2/24`, AddressIPv6: '', MacAddress: '' }, Options: {} },
      { mustRefuse: 'two endpoints with the same address in one network (defect 5)', note: 'second endpoint, same address' })] }),
    ({ setup: 'network', steps: [call('NetworkDriver.CreateNetwork', { NetworkID: ep2Id, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: `${net}.0/24`, Gateway: `${net}.1/24` }], IPv6Data: [] },
      { mustRefuse: 'a second network with the same subnet (defect 2)', note: 'second network, same subnet' })] }),
    ({ setup: 'network', steps: [call('NetworkDriver.CreateNetwork', { NetworkID: netId, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: `10.${net.split('.')[1]}.${(parseInt(net.split('.')[2] ?? '0', 10) + 1) % 256}.0/24`, Gateway: `10.${net.split('.')[1]}.${(parseInt(net.split('.')[2] ?? '0', 10) + 1) % 256}.1/24` }], IPv6Data: [] },
      { mustRefuse: 'CreateNetwork repeated with the same id and a different subnet', note: 'CreateNetwork twice, different subnet' })] }),
    ({ setup: 'network-dual', steps: [call('NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: epId, Interface: { Address: `${net}.2/24`, AddressIPv6: `${net6}::1/64`, MacAddress: '' }, Options: {} },
      { mustRefuse: 'an IPv6 endpoint address equal to the gateway (defect 5)', note: 'IPv6 endpoint address = gateway' })] }),
    ({ setup: 'endpoint', steps: [
      call('NetworkDriver.Leave', { NetworkID: netId, EndpointID: epId }, { note: 'Leave before Join' }),
      call('NetworkDriver.EndpointOperInfo', { NetworkID: netId, EndpointID: epId }),
    ] }),
    ({ setup: 'joined', steps: [call('NetworkDriver.Join', { NetworkID: netId, EndpointID: epId, SandboxKey: `${ctx.sandboxKey}x`, Options: {} }, { note: 'Join again into another sandbox' })] }),
    ({ setup: 'published', steps: [call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: netId, EndpointID: ep2Id, Options: { 'com.docker.network.portmap': [portBinding('', 23000 + (parseInt(net.split('.')[2] ?? '0', 10)))] } },
      { note: 'ProgramExternalConnectivity for an endpoint that does not exist' })] }),
    ({ setup: 'pool', steps: [call('IpamDriver.RequestAddress', { PoolID: POOL_TOKEN, Address: `${net}.1`, Options: null }, { mustRefuse: 'RequestAddress for an address already allocated (the gateway)', note: 'gateway address requested twice' })] }),
    ({ setup: 'pool', steps: [call('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: `${net}.0/25`, SubPool: '', Options: {}, V6: false }, { mustRefuse: 'a pool overlapping one already allocated', note: 'overlapping RequestPool' })] }),
  ];
}

// ---------------------------------------------------------------- cases

/** How often each setup is built. */
const SETUP_WEIGHTS: ReadonlyArray<readonly [SetupKind, number]> = [
  ['none', 3], ['pool', 3], ['network', 3], ['network-dual', 1], ['network-adopt', 1], ['endpoint', 3], ['joined', 2], ['published', 1],
];

/** Every method is fuzzed against every setup; those that act on what the setup built, more often. */
function methodWeights(setup: SetupKind): ReadonlyArray<fc.WeightedArbitrary<MethodName>> {
  const boost: Partial<Record<MethodName, number>> =
    setup === 'none' ? { 'NetworkDriver.CreateNetwork': 12, 'IpamDriver.RequestPool': 8, 'NetworkDriver.AllocateNetwork': 2 }
    : setup === 'pool' ? { 'IpamDriver.RequestAddress': 10, 'IpamDriver.RequestPool': 5, 'IpamDriver.ReleaseAddress': 3 }
    : setup === 'network' || setup === 'network-dual' || setup === 'network-adopt' ? { 'NetworkDriver.CreateEndpoint': 12, 'NetworkDriver.CreateNetwork': 4 }
    : setup === 'endpoint' ? { 'NetworkDriver.Join': 8, 'NetworkDriver.ProgramExternalConnectivity': 5, 'NetworkDriver.CreateEndpoint': 5, 'NetworkDriver.EndpointOperInfo': 2 }
    : { 'NetworkDriver.ProgramExternalConnectivity': 10, 'NetworkDriver.Join': 3, 'NetworkDriver.EndpointOperInfo': 2, 'NetworkDriver.CreateEndpoint': 2 };
  return methodNames.map((m) => ({ weight: boost[m] ?? 1, arbitrary: fc.constant(m) }));
}

/** One group of steps (one call, or a short sequence) that fits the setup. */
function stepGroup(setup: SetupKind, ctx: Ctx, recorded: readonly Recorded[]): fc.Arbitrary<readonly Step[]> {
  const templates = sequenceTemplates(ctx).filter((t) => t.setup === setup);
  const options: Array<fc.WeightedArbitrary<readonly Step[]>> = [
    { weight: 12, arbitrary: fc.oneof(...methodWeights(setup)).chain((m) => schemaStep(m, ctx)).map((st) => [st]) },
  ];
  if (recorded.length > 0) options.push({ weight: 6, arbitrary: fixtureStep(recorded, ctx).map((st) => [st]) });
  if (templates.length > 0) options.push({ weight: 3, arbitrary: fc.constantFrom(...templates).map((t) => t.steps) });
  return fc.oneof(...options);
}

/**
 * A case: a context, a setup, then 1-16 step groups against it. Setups are costly (Docker's
 * calls and a snapshot each way), so each one serves several inputs; an accepted input is
 * undone before the next, so every step meets the setup as it was built.
 */
export function caseArb(recorded: readonly Recorded[]): fc.Arbitrary<FuzzCase> {
  return ctxArb.chain((ctx) => fc.oneof(...SETUP_WEIGHTS.map(([setup, weight]) => ({ weight, arbitrary: fc.constant(setup) })))
    .chain((setup) => fc.array(stepGroup(setup, ctx, recorded), { minLength: 1, maxLength: 16 }).map((groups) => ({ ctx, setup, steps: groups.flat() }))));
}
