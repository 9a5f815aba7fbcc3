import { createSocket } from 'node:dgram';
import { decode, encode } from 'dns-packet';

/**
 * For e2e measurements of names across hosts: `node dist/test/support/dns-wait.js SERVER NAME IP
 * TIMEOUT_MS`, run inside a container's network namespace, asks SERVER (UDP 53) for NAME's A
 * record every 10 ms until an answer holds IP, and prints the milliseconds from its own start
 * (exit 0), or exits 1 after TIMEOUT_MS. Asking tsnet's resolver directly leaves out Docker's
 * embedded DNS and `docker exec`, so what is timed is how long the name took to reach this host.
 */
const [server, name, ip, timeoutText] = process.argv.slice(2);
const timeoutMs = Number(timeoutText);
if (!server || !name || !ip || !Number.isFinite(timeoutMs)) {
  process.stderr.write('usage: dns-wait SERVER NAME IP TIMEOUT_MS\n');
  process.exit(2);
}
const started = performance.now();
const socket = createSocket('udp4');
let id = 0;
socket.on('message', (message) => {
  try {
    const reply = decode(message);
    if (reply.answers?.some((a) => a.type === 'A' && a.data === ip)) {
      process.stdout.write(`${Math.round(performance.now() - started)}\n`);
      process.exit(0);
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
setInterval(() => {
  if (performance.now() - started > timeoutMs) {
    process.stderr.write(`no answer with ${ip} for ${name} from ${server} within ${timeoutMs} ms\n`);
    process.exit(1);
  }
  ask();
}, 10);
ask();
