import { z } from 'zod';
import { NoArguments, expected, list, name, reply } from './common.js';

/**
 * The handshake, sent when Docker first uses the plugin's name and again after the plugin
 * restarts. Docker sends no body.
 */
export const ActivateRequest = NoArguments;
export type ActivateRequest = z.infer<typeof ActivateRequest>;

/**
 * The interfaces the plugin implements, e.g. `["NetworkDriver", "IpamDriver"]`. Docker
 * registers the plugin with each one it knows and ignores the others.
 */
export const ActivateResponse = reply({
  Implements: list(name(64, 'expected an interface name such as NetworkDriver'), 'interfaces')
    .min(1, { error: expected('expected at least one interface such as NetworkDriver') }),
});
export type ActivateResponse = z.infer<typeof ActivateResponse>;
