import { describe, expect, it } from 'vitest';
import { isPublicAddress } from '../../shared/webhooks/address-rules.ts';

// Each refused range with its first and last address, and the public neighbours just outside it.
const REFUSED: [range: string, addresses: string[]][] = [
  ['0.0.0.0/8 "this network"', ['0.0.0.0', '0.255.255.255']],
  ['10.0.0.0/8 private', ['10.0.0.0', '10.0.0.1', '10.255.255.255']],
  ['100.64.0.0/10 shared (CGNAT)', ['100.64.0.0', '100.127.255.255']],
  ['127.0.0.0/8 loopback', ['127.0.0.0', '127.0.0.1', '127.255.255.255']],
  ['169.254.0.0/16 link-local (instance metadata)', ['169.254.0.0', '169.254.169.254', '169.254.255.255']],
  ['172.16.0.0/12 private', ['172.16.0.0', '172.31.255.255']],
  ['192.0.0.0/24 IETF protocol assignments', ['192.0.0.0', '192.0.0.255']],
  ['192.168.0.0/16 private', ['192.168.0.0', '192.168.255.255']],
  ['198.18.0.0/15 benchmarking', ['198.18.0.0', '198.19.255.255']],
  ['224.0.0.0/4 multicast', ['224.0.0.0', '239.255.255.255']],
  ['240.0.0.0/4 reserved', ['240.0.0.0', '254.255.255.255']],
  ['255.255.255.255 broadcast', ['255.255.255.255']],
  ['documentation', ['192.0.2.1', '198.51.100.7', '203.0.113.9']],
  [':: unspecified', ['::', '0:0:0:0:0:0:0:0']],
  ['::1 loopback', ['::1', '0:0:0:0:0:0:0:1']],
  ['fc00::/7 unique local', ['fc00::', 'fc00::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']],
  ['fd00:ec2::254 instance metadata (IPv6)', ['fd00:ec2::254']],
  ['fe80::/10 link-local', ['fe80::', 'fe80::1', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff']],
  ['ff00::/8 multicast', ['ff00::', 'ff02::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']],
  [
    'IPv4-mapped private (dotted and hex)',
    [
      '::ffff:10.0.0.1',
      '::ffff:a00:1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '0:0:0:0:0:ffff:c0a8:101',
    ],
  ],
  ['IPv4-compatible private', ['::10.0.0.1', '::a00:1', '::127.0.0.1', '::a9fe:a9fe']],
  ['NAT64 64:ff9b::/96 of private', ['64:ff9b::10.0.0.1', '64:ff9b::a00:1', '64:ff9b::7f00:1', '64:ff9b::a9fe:a9fe']],
  ['other non-global IPv6', ['64:ff9b:1::1', '100::1', '2001:db8::1', '2001::1', '2002:a00:1::', '::ffff:0:a00:1']],
  ['not an address', ['', 'localhost', 'example.com', '10.0.0', '1.2.3.4.5', 'fe80::1%eth0']],
];

const PUBLIC: [neighbour: string, addresses: string[]][] = [
  ['after 0/8', ['1.0.0.0', '1.1.1.1']],
  ['around 10/8', ['9.255.255.255', '11.0.0.0']],
  ['around 100.64/10', ['100.63.255.255', '100.128.0.0']],
  ['around 127/8', ['126.255.255.255', '128.0.0.0']],
  ['around 169.254/16', ['169.253.255.255', '169.255.0.0']],
  ['around 172.16/12', ['172.15.255.255', '172.32.0.0']],
  ['around 192.0.0/24', ['191.255.255.255', '192.0.1.0']],
  ['around 192.168/16', ['192.167.255.255', '192.169.0.0']],
  ['around 198.18/15', ['198.17.255.255', '198.20.0.0']],
  ['before 224/4', ['223.255.255.255']],
  ['ordinary public', ['8.8.8.8', '93.184.216.34', '52.94.236.248']],
  ['IPv6 global unicast', ['2001:4860:4860::8888', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e']],
  ['IPv4-mapped and NAT64 of public', ['::ffff:8.8.8.8', '::ffff:808:808', '64:ff9b::8.8.8.8', '64:ff9b::808:808']],
];

describe('webhook address rules', () => {
  it.each(REFUSED)('refuses %s', (_range, addresses) => {
    for (const ip of addresses) expect(isPublicAddress(ip), ip).toBe(false);
  });

  it.each(PUBLIC)('allows the public neighbour %s', (_range, addresses) => {
    for (const ip of addresses) expect(isPublicAddress(ip), ip).toBe(true);
  });

  it('refuses the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001) as loopback', () => {
    const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API ?? '127.0.0.1:9001';
    const host = runtimeApi.slice(0, runtimeApi.lastIndexOf(':'));
    expect(host).toBe('127.0.0.1');
    expect(isPublicAddress(host)).toBe(false);
  });
});
