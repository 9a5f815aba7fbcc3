import { parseArgs } from 'node:util';
import { getAdmin } from './admin/client.js';
import { renderIpam, renderNetwork, renderNetworks, renderPeers, renderPorts, renderStatus, type StatusView } from './admin/render.js';
import type { IpamSpaceView, NetworkView, PeerView, PortView } from './admin/views.js';
import { DEFAULTS, defaultAdminSocket } from './config.js';
import { tsnetError } from './core/errors.js';

export const ADMIN_COMMANDS = ['status', 'networks', 'network', 'ports', 'peers', 'ipam'] as const;
type AdminCommand = (typeof ADMIN_COMMANDS)[number];

export const ADMIN_HELP = `Usage: tsnet status                       the daemon, its store, etcd and Docker, counts
       tsnet networks                     every tsnet network of this host
       tsnet network NAME|ID              one network with its endpoints and ports
       tsnet ports [CONTAINER|ENDPOINT]   every published port (what docker port
                                          cannot show for a plugin network)

Options:
  --json               print the view as JSON (for scripts) instead of a table
  --admin-socket PATH  the daemon's admin API (TSNET_ADMIN_SOCKET), default
                       ${DEFAULTS.adminSocket}
  --state-dir DIR      find the admin socket of the daemon with this state
                       directory (DIR/admin.sock unless it is ${DEFAULTS.stateDir})
  -h, --help           show this help

Names are Docker's, asked of the Docker API by the daemon; ids can be given in
full or by a prefix of at least 4 characters. Root only.
`;

/** `tsnet status|networks|network|ports`: reads the running daemon's admin API. */
export async function runAdminCommand(command: AdminCommand, args: string[], env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { json: { type: 'boolean' }, 'admin-socket': { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw tsnetError('TSNET_CLI_ARGS', (err as Error).message, 'see tsnet status --help');
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(ADMIN_HELP);
    return 0;
  }
  const maxArgs = command === 'network' || command === 'ports' || command === 'peers' ? 1 : 0;
  if (positionals.length > maxArgs || (command === 'network' && positionals.length === 0)) {
    throw tsnetError('TSNET_CLI_ARGS', `tsnet ${command} takes ${command === 'network' ? 'one NAME or ID' : command === 'ports' ? 'at most one CONTAINER or ENDPOINT' : command === 'peers' ? 'at most one NETWORK' : 'no arguments'}`, 'see tsnet status --help');
  }
  const stateDir = values['state-dir'] ?? env.TSNET_STATE_DIR;
  const socket = values['admin-socket'] ?? env.TSNET_ADMIN_SOCKET ?? (stateDir ? defaultAdminSocket(stateDir) : DEFAULTS.adminSocket);
  const [ref] = positionals;
  const print = <T>(view: T, human: (v: T) => string) => out(values.json ? `${JSON.stringify(view, null, 2)}\n` : human(view));
  switch (command) {
    case 'status':
      print((await getAdmin(socket, '/v1/status')) as StatusView, renderStatus);
      break;
    case 'networks':
      print((await getAdmin(socket, '/v1/networks')) as NetworkView[], renderNetworks);
      break;
    case 'network':
      print((await getAdmin(socket, `/v1/networks/${encodeURIComponent(ref ?? '')}`)) as NetworkView, renderNetwork);
      break;
    case 'peers':
      print((await getAdmin(socket, ref === undefined ? '/v1/peers' : `/v1/peers?network=${encodeURIComponent(ref)}`)) as PeerView[], renderPeers);
      break;
    case 'ipam':
      print((await getAdmin(socket, '/v1/ipam')) as IpamSpaceView[], renderIpam);
      break;
    case 'ports':
      print((await getAdmin(socket, ref === undefined ? '/v1/ports' : `/v1/ports?ref=${encodeURIComponent(ref)}`)) as PortView[], renderPorts);
      break;
  }
  return 0;
}
