import { dirname } from 'node:path';
import { fail, pass, pluginName, skip, warn, type Check } from './check.js';

/** The Docker versions tsnet is tested against (README "Testing"); older ones are a WARN. */
const TESTED_DOCKER_MAJOR = 20;
/** Where Docker looks for plugin sockets (libnetwork pkg/plugins). */
const DOCKER_SOCKET_DIR = '/run/docker/plugins';
const LOW_SPACE_BYTES = 64 * 1024 * 1024;

export const dockerCheck: Check = async ({ facts, options }) => {
  const id = 'docker.api';
  const docker = facts.docker;
  if ('skipped' in docker) return skip(id, docker.skipped);
  if (!docker.reachable) {
    return fail(id, `dockerd does not answer: ${docker.error}`, 'systemctl start docker');
  }
  const major = Number(docker.version.split('.')[0]);
  const what = `dockerd ${docker.version} (API ${docker.apiVersion}) on ${options.dockerHost}, ${facts.networks?.length ?? 0} network(s) of driver ${pluginName(options.socketPath)}`;
  if (Number.isInteger(major) && major < TESTED_DOCKER_MAJOR) return warn(id, `${what}; tsnet is tested with Docker 20.10 and newer`);
  return pass(id, what);
};

/** Docker reaches the plugin through this socket: it must exist, be a socket, and a daemon must answer on it. */
export const socketCheck: Check = async ({ facts, options }) => {
  const id = 'plugin.socket';
  const path = options.socketPath;
  const socket = facts.socket;
  if (!socket.exists) return fail(id, `${path} does not exist: the tsnet daemon is not running (or runs with another --socket)`, 'systemctl start tsnet');
  if (!socket.isSocket) return fail(id, `${path} exists but is not a socket: Docker cannot reach the plugin through it`, `rm ${path} && systemctl restart tsnet`);
  const answer = socket.activate;
  if (!answer?.ok) return fail(id, `nothing answers POST /Plugin.Activate on ${path} (${answer?.error ?? 'no answer'}): a stale socket left by a daemon that stopped`, 'systemctl restart tsnet');
  const missing = ['NetworkDriver', 'IpamDriver'].filter((i) => !answer.implements.includes(i));
  if (missing.length > 0) return fail(id, `the process on ${path} implements ${answer.implements.join(', ') || 'nothing'}, not ${missing.join(' and ')}: it is not tsnet`);
  return pass(id, `${path} answers Plugin.Activate: ${answer.implements.join(', ')}`);
};

/** The plugin API creates interfaces and firewall rules as root: only root (and root's group) may talk to it. */
export const socketModeCheck: Check = async ({ facts, options }) => {
  const id = 'plugin.socket-mode';
  const socket = facts.socket;
  const path = options.socketPath;
  if (!socket.exists) return skip(id, `${path} does not exist (see plugin.socket)`);
  const mode = (socket.mode & 0o777).toString(8).padStart(3, '0');
  if (socket.uid !== 0) return fail(id, `${path} belongs to uid ${socket.uid}, not root: that user can change this host's networking through the plugin API`, `chown root:root ${path}`);
  if ((socket.mode & 0o007) !== 0) return fail(id, `${path} has mode ${mode}: every local user can call the plugin API, which changes this host's networking as root`, `chmod 660 ${path}`);
  if ((socket.mode & 0o070) !== 0 && socket.gid !== 0) return fail(id, `${path} has mode ${mode} and group ${socket.gid}: members of that group can call the plugin API`, `chown root:root ${path}`);
  return pass(id, `${path} mode ${mode}, owner root`);
};

/** Docker finds a legacy plugin by its socket in /run/docker/plugins, or by a spec file naming it elsewhere. */
export const discoveryCheck: Check = async ({ probe, options }) => {
  const id = 'plugin.discovery';
  const name = pluginName(options.socketPath);
  if (dirname(options.socketPath) === DOCKER_SOCKET_DIR) return pass(id, `Docker finds the socket in ${DOCKER_SOCKET_DIR} as driver "${name}"`);
  const specs = await probe.pluginSpecFiles(name);
  if (specs.length > 0) return pass(id, `Docker finds driver "${name}" through ${specs.join(', ')}`);
  return warn(id, `${options.socketPath} is outside ${DOCKER_SOCKET_DIR} and no /etc/docker/plugins/${name}.spec names it: "docker network create -d ${name}" will not find the plugin`,
    `echo unix://${options.socketPath} > /etc/docker/plugins/${name}.spec`);
};

/** The embedded store lives in the state directory; the daemon must be able to write there. */
export const stateDirCheck: Check = async ({ probe, options }) => {
  const id = 'state.dir';
  const dir = options.stateDir;
  const state = await probe.directory(dir);
  if (!state.exists) {
    if (state.parentWritable === true) return warn(id, `${dir} does not exist yet; the daemon creates it when it starts`, `mkdir -p -m 700 ${dir}`);
    return fail(id, `${dir} does not exist and ${state.parent} is not writable (${state.parentWritable}): the daemon cannot create its store`, `mkdir -p -m 700 ${dir}`);
  }
  if (!state.isDirectory) return fail(id, `${dir} exists but is not a directory`, `mv ${dir} ${dir}.old && mkdir -m 700 ${dir}`);
  if (state.writable !== true) return fail(id, `${dir} is not writable (${state.writable}): the daemon cannot record networks, endpoints or addresses`, unwritableFix(state.writable, dir));
  if (state.freeBytes !== undefined && state.freeBytes < LOW_SPACE_BYTES) {
    return warn(id, `${dir} is writable but its file system has only ${Math.floor(state.freeBytes / 1024 / 1024)} MiB free: the store refuses writes when the disk fills`);
  }
  return pass(id, `${dir} is a writable directory`);
};

/** Each reason access(2) gives for "not writable" has its own remedy. */
function unwritableFix(code: string, dir: string): string {
  if (code === 'EPERM') return `chattr -i ${dir}`; // immutable: the one thing that stops root
  if (code === 'EROFS') return `mount -o remount,rw $(findmnt -n -o TARGET --target ${dir})`;
  return `chown root:root ${dir} && chmod 700 ${dir}`;
}

/** iptables, modprobe and the socket checks need root; as another user they report less than the truth. */
export const rootCheck: Check = async ({ probe }) => {
  const id = 'doctor.root';
  const uid = probe.uid();
  if (uid === 0) return pass(id, 'running as root');
  return warn(id, `running as uid ${uid}: iptables, kernel and socket checks need root and may report failures that are not there`, 'sudo tsnet doctor');
};
