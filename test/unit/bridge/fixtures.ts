import { pino } from 'pino';
import type { EndpointRecord, NetworkRecord } from '../../../src/core/model.js';

export const silentLog = pino({ level: 'silent' });

export const NET_A = 'aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001';
export const NET_B = 'bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002';
export const EP_1 = 'eeeeeeeeeeee0000000000000000000000000000000000000000000000000001';
export const EP_2 = 'eeeeeeeeeeee0000000000000000000000000000000000000000000000000002';

export function network(overrides: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id: NET_A,
    type: 'bridge',
    ipv4: [{ addressSpace: 'LocalDefault', pool: '10.99.0.0/24', gateway: '10.99.0.1/24', auxAddresses: {} }],
    ipv6: [],
    internal: false,
    enableIpv6: false,
    options: {},
    state: 'ready',
    createdAt: '2026-11-22T00:00:00.000Z',
    driverState: {},
    ...overrides,
  };
}

export function endpoint(overrides: Partial<EndpointRecord> = {}): EndpointRecord {
  return {
    networkId: NET_A,
    id: EP_1,
    address: '10.99.0.2/24',
    mac: '02:74:0a:63:00:02',
    macGenerated: true,
    state: 'ready',
    exposedPorts: [],
    ports: [],
    createdAt: '2026-11-22T00:00:00.000Z',
    ...overrides,
  };
}
