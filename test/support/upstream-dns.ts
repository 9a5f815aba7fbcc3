import { createSocket } from 'node:dgram';
import { decode, encode } from 'dns-packet';

/**
 * A stand-in for a host's usual DNS server in e2e tests (there is no network beyond the test's
 * namespaces): `node dist/test/support/upstream-dns.js ADDR NAME=IP…` answers those names (A)
 * to anyone, over UDP, and NXDOMAIN for every other name, as a recursive resolver would. It runs
 * in a namespace the test made, until SIGTERM.
 */
const [address, ...pairs] = process.argv.slice(2);
if (!address || pairs.length === 0) {
  process.stderr.write('usage: upstream-dns ADDR NAME=IP…\n');
  process.exit(2);
}
const table = new Map(pairs.map((p) => p.split('=', 2) as [string, string]));
const RA = 0x0080;
const RD = 0x0100;
const NXDOMAIN = 3;

const socket = createSocket('udp4');
socket.on('message', (message, peer) => {
  try {
    const query = decode(message);
    const question = query.questions?.[0];
    if (query.type !== 'query' || !question) return;
    const ip = table.get(question.name.toLowerCase().replace(/\.$/, ''));
    const answers = ip && question.type === 'A' ? [{ type: 'A' as const, name: question.name, ttl: 5, data: ip }] : [];
    const flags = ((query.flags ?? 0) & RD) | RA | (ip ? 0 : NXDOMAIN);
    socket.send(encode({ type: 'response', id: query.id ?? 0, flags, questions: [question], answers }), peer.port, peer.address);
  } catch {
    // Not a query this stand-in can read: ignored.
  }
});
socket.bind(53, address, () => process.stdout.write(`upstream DNS on ${address}:53\n`));
process.once('SIGTERM', () => socket.close(() => process.exit(0)));
