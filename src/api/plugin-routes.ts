import { methods } from '../../plugin-spec/methods.js';
import type { MethodRegistrar } from './app.js';

/** The interfaces tsnet announces: only those it implements completely. */
export const IMPLEMENTS = ['NetworkDriver', 'IpamDriver'] as const;

export function registerPluginRoutes(define: MethodRegistrar): void {
  define('Plugin.Activate', methods['Plugin.Activate'].request, () => ({ Implements: [...IMPLEMENTS] }));
}
