/**
 * Small, self-contained checks of the address forms Docker sends. They accept exactly what Go's
 * `net.ParseIP`/`net.ParseCIDR` print (Docker builds every one of these strings with them), so a
 * value that passes here is one libnetwork would also accept back. Linear time, no regex
 * backtracking, so they are safe on untrusted input of any length.
 */

const DECIMAL_OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const PREFIX = /^(?:0|[1-9]\d{0,2})$/;
const MAC = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

/**
 * True for a dotted-quad IPv4 address such as `10.0.0.1`. Leading zeros are refused, as Go has
 * done since 1.17 (`010.0.0.1` would be octal to some parsers and decimal to others).
 */
export function isIPv4(text: string): boolean {
  if (text.length > 15) return false;
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => DECIMAL_OCTET.test(part));
}

/**
 * True for an IPv6 address in any RFC 4291 text form: full, `::`-compressed, or with an
 * embedded IPv4 tail (`::ffff:10.0.0.1`). Zone ids (`fe80::1%eth0`) are refused: Docker never
 * sends them and they are meaningless in a pool or a container address.
 */
export function isIPv6(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string | undefined): string[] => (half ? half.split(':') : []);
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const all = [...head, ...tail];
  // An IPv4 tail is allowed only as the very last group of the text, where it stands for two
  // groups; "10.0.0.1::" has it last in the list but before the "::".
  const ipv4At = halves.length === 2 && tail.length === 0 ? -1 : all.length - 1;
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const group = all[i] as string;
    if (i === ipv4At && group.includes('.')) {
      if (!isIPv4(group)) return false;
      count += 2;
    } else if (HEX_GROUP.test(group)) {
      count += 1;
    } else {
      return false;
    }
  }
  // Without "::" all eight groups must be spelled out; with it, "::" stands for at least one.
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** True for an IPv4 or IPv6 address without a prefix length. */
export function isIp(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

function splitCidr(text: string): { ip: string; prefix: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0 || text.length > 49) return undefined;
  const prefix = text.slice(slash + 1);
  if (!PREFIX.test(prefix)) return undefined;
  return { ip: text.slice(0, slash), prefix: Number(prefix) };
}

/** True for `a.b.c.d/n` with 0 ≤ n ≤ 32. Host bits may be set (`10.0.0.2/24` is an endpoint address). */
export function isCidr4(text: string): boolean {
  const cidr = splitCidr(text);
  return cidr !== undefined && cidr.prefix <= 32 && isIPv4(cidr.ip);
}

/** True for an IPv6 address followed by `/n` with 0 ≤ n ≤ 128. */
export function isCidr6(text: string): boolean {
  const cidr = splitCidr(text);
  return cidr !== undefined && cidr.prefix <= 128 && isIPv6(cidr.ip);
}

/** True for an IPv4 or IPv6 address in CIDR form. */
export function isCidr(text: string): boolean {
  return isCidr4(text) || isCidr6(text);
}

/** True for an Ethernet MAC address as Go prints it: six hex pairs separated by `:`. */
export function isMac(text: string): boolean {
  return MAC.test(text);
}

/**
 * True for the base64 of a 6-byte MAC address, which is how Go's encoding/json renders the
 * `net.HardwareAddr` Docker puts in `com.docker.network.endpoint.macaddress` (e.g. `AkIKxwXI`).
 */
export function isBase64Mac(text: string): boolean {
  return /^[A-Za-z0-9+/]{8}$/.test(text);
}
