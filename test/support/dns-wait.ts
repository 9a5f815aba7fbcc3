import { createSocket } from 'node:dgram';
import { decode, encode } from 'dns-packet';

/**
 * For e2e measurements of names across hosts: `node dist/test/support/dns-wait.js SERVER NAME
 * TIMEOUT_MS`, run inside a container's network namespace, prints "ready", then asks SERVER
 * (UDP 53) for NAME's A record every 10 ms until an answer has one, and prints the wall-clock
 * time of that answer (ms since the epoch) and its addresses (exit 0), or exits 1 after
 * TIMEOUT_MS. Started before the container is, and asking tsnet's resolver directly, it leaves
 * out its own start, Docker's embedded DNS and `docker exec` from what is timed.
 * With `--first` it stops at the first reply of any kind and prints the milliseconds from its
 * first query and the reply's rcode (REFUSED, say) instead.
 */
const firstReply = process.argv[2] === '--first';
const [server, name, timeoutText] = process.argv.slice(firstReply ? 3 : 2);
const timeoutMs = Number(timeoutText);
if (!server || !name || !Number.isFinite(timeoutMs)) {
  process.stderr.write('usage: dns-wait [--first] SERVER NAME TIMEOUT_MS\n');
  process.exit(2);
}
const started = performance.now();
const socket = createSocket('udp4');
let id = 0;
socket.on('message', (message) => {
  try {
    const reply = decode(message);
    const addresses = (reply.answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : []));
    if (firstReply && addresses.length === 0) {
      // --first: the first reply of any kind, with its rcode and how long after the first query.
      const rcode = (reply as { rcode?: string }).rcode ?? 'unknown';
      process.stdout.write(`${Math.round(performance.now() - started)} ${rcode}\n`, () => process.exit(0));
      socket.removeAllListeners('message');
    } else if (addresses.length > 0) {
      // Exit once the line is out: on a pipe stdout is asynchronous, and exit() would drop it.
      process.stdout.write(`${Date.now()} ${addresses.join(',')}\n`, () => process.exit(0));
      socket.removeAllListeners('message');
    }
  } catch {
    // not a reply this can read: keep asking
  }
});
socket.on('error', () => undefined);
const ask = () => {
  id = (id + 1) & 0xffff;
  socket.send(encode({ type: 'query', id, flags: 0x0100, questions: [{ type: 'A', name }] }), 53, server);
};
let timedOut = false;
setInterval(() => {
  if (performance.now() - started > timeoutMs) {
    if (!timedOut) process.stderr.write(`no address for ${name} from ${server} within ${timeoutMs} ms\n`, () => process.exit(1));
    timedOut = true;
    return;
  }
  ask();
}, 10);
process.stdout.write('ready\n');
ask();
