import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which addresses a webhook may be delivered to: public unicast only. Everything a server-side
 * request could abuse to reach the service's own network is refused (OWASP SSRF prevention): private,
 * shared, loopback (which also covers the Lambda Runtime API at 127.0.0.1:9001), link-local (the
 * instance metadata service at 169.254.169.254 and fd00:ec2::254), multicast, reserved.
 */

/** IPv4 ranges that are not publicly routable (IANA IPv4 Special-Purpose Address Registry, RFC 6890). */
const REFUSED_IPV4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space, carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback; the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) listens on 127.0.0.1:9001
  ['169.254.0.0', 16], // link-local, the instance metadata service 169.254.169.254 (RFC 3927)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments (RFC 6890)
  ['192.0.2.0', 24], // documentation TEST-NET-1 (RFC 5737)
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking (RFC 2544)
  ['198.51.100.0', 24], // documentation TEST-NET-2
  ['203.0.113.0', 24], // documentation TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including the limited broadcast 255.255.255.255
];

const ipv4Number = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);

const REFUSED_IPV4_RANGES = REFUSED_IPV4.map(([base, bits]) => {
  const size = 2 ** (32 - bits);
  const start = ipv4Number(base);
  return { start, end: start + size - 1 };
});

function isPublicIpv4(ip: string): boolean {
  const n = ipv4Number(ip);
  return !REFUSED_IPV4_RANGES.some((r) => n >= r.start && n <= r.end);
}

/** The eight 16-bit groups of an IPv6 address (with `::` expanded and a dotted IPv4 tail converted). */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = ipv4Number(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - front.length - back.length).fill(0);
  return [...front, ...zeros, ...back];
}

const ipv4Of = (high: number, low: number) => `${high >>> 8}.${high & 0xff}.${low >>> 8}.${low & 0xff}`;

function isPublicIpv6(ip: string): boolean {
  const g = ipv6Groups(ip);
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  // IPv4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): the connection goes to the IPv4 address.
  if (zeroUpTo(5) && g[5] === 0xffff) return isPublicIpv4(ipv4Of(g[6]!, g[7]!));
  // IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1); also covers :: and ::1.
  if (zeroUpTo(6)) return isPublicIpv4(ipv4Of(g[6]!, g[7]!)) && !(g[6] === 0 && g[7]! <= 1);
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): judged as the IPv4 address it translates to.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return isPublicIpv4(ipv4Of(g[6]!, g[7]!));
  // Only global unicast 2000::/3 is public: this refuses ::/8 leftovers, fc00::/7 (unique local, which
  // holds the metadata service's fd00:ec2::254), fe80::/10 (link-local) and ff00::/8 (multicast).
  if ((g[0]! & 0xe000) !== 0x2000) return false;
  if (g[0] === 0x2001 && g[1] === 0x0db8) return false; // documentation (RFC 3849)
  if (g[0] === 0x2001 && g[1]! < 0x0200) return false; // IETF protocol assignments, incl. Teredo 2001::/32 (RFC 2928)
  if (g[0] === 0x2002) return false; // 6to4 (RFC 3056): tunnels to an embedded IPv4 address
  return true;
}

/** True when `ip` (an IPv4 or IPv6 literal) is a public unicast address a webhook may be sent to. */
export function isPublicAddress(ip: string): boolean {
  if (isIPv4(ip)) return isPublicIpv4(ip);
  if (isIPv6(ip)) return !ip.includes('%') && isPublicIpv6(ip.toLowerCase());
  return false;
}
