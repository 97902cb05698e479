import { createHash, randomBytes } from 'node:crypto';
import type { Signer } from './signer.ts';
import { systemClock } from '../ports.ts';

/**
 * A self-signed X.509 v3 certificate (RFC 5280) for a key that never leaves its signer (KMS): the
 * credential uploaded to the app registration. Signed with sha256WithRSAEncryption (PKCS#1 v1.5,
 * RFC 4055 §5), which every verifier, Entra included, accepts; the certificate's own signature is
 * never checked by the token endpoint, only its public key is used.
 */
export interface SelfSignedCertificate {
  der: Buffer;
  pem: string;
  /** base64url SHA-256 of the DER: the `x5t#S256` header value (CLIENT_CERTIFICATE_THUMBPRINT_S256). */
  thumbprintS256: string;
  /** Uppercase hex SHA-1 of the DER: the thumbprint Entra's portal lists for the credential. */
  thumbprintSha1Hex: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateRequest {
  /** Distinguished name such as `CN=dynamics-auth, O=Contoso` (CN, O, OU, L, ST, C). */
  subject: string;
  days: number;
  now?: Date;
}

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
} as const;
type NameAttribute = 'CN' | 'C' | 'L' | 'ST' | 'O' | 'OU';

export async function createSelfSignedCertificate(
  signer: Signer,
  request: CertificateRequest,
): Promise<SelfSignedCertificate> {
  if (!Number.isInteger(request.days) || request.days < 1 || request.days > 3650) {
    throw new RangeError('days must be a whole number from 1 to 3650');
  }
  const name = encodeName(request.subject);
  // A little back-dated so a verifier with a slow clock accepts it at once.
  const notBefore = new Date(
    Math.floor(((request.now ?? new Date(systemClock())).getTime() - 5 * 60_000) / 1000) * 1000,
  );
  const notAfter = new Date(notBefore.getTime() + request.days * 86_400_000);
  const spki = (await signer.publicKey()).export({ type: 'spki', format: 'der' });
  const algorithm = sequence(oid(OID.sha256WithRSAEncryption), der(0x05, Buffer.alloc(0)));
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // a positive INTEGER (RFC 5280 §4.1.2.2)
  const tbs = sequence(
    der(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name, // issuer = subject: self-signed
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    der(
      0xa3,
      sequence(
        extension(OID.basicConstraints, true, sequence()), // not a CA
        extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
      ),
    ),
  );
  const signature = await signer.sign(tbs, 'RS256');
  const certificate = sequence(tbs, algorithm, bitString(Buffer.from(signature)));
  const base64 = certificate.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    der: certificate,
    pem: `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`,
    thumbprintS256: createHash('sha256').update(certificate).digest('base64url'),
    thumbprintSha1Hex: createHash('sha1').update(certificate).digest('hex').toUpperCase(),
    notBefore,
    notAfter,
  };
}

/** `CN=x, O=y` → RDNSequence; one attribute per RDN, no escapes (kept to what an app credential needs). */
function encodeName(subject: string): Buffer {
  const parts = subject
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new RangeError('subject must name at least CN=…');
  const rdns = parts.map((part) => {
    const match = /^(CN|C|L|ST|O|OU)=([^=+\\"<>;]{1,64})$/i.exec(part);
    if (!match) throw new RangeError(`subject: "${part}" is not one of CN=, O=, OU=, L=, ST=, C= with a plain value`);
    const type = match[1]!.toUpperCase() as NameAttribute;
    const value = match[2]!.trim();
    if (type === 'C' && !/^[A-Z]{2}$/.test(value))
      throw new RangeError('subject: C= must be a two-letter country code');
    // RFC 5280 §4.1.2.4: UTF8String, except countryName which is a PrintableString.
    const text = type === 'C' ? der(0x13, Buffer.from(value, 'ascii')) : der(0x0c, Buffer.from(value, 'utf8'));
    return der(0x31, sequence(oid(OID[type]), text));
  });
  if (!parts.some((p) => /^CN=/i.test(p))) throw new RangeError('subject must include CN=…');
  return sequence(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : der(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}

function sequence(...items: Buffer[]): Buffer {
  return der(0x30, Buffer.concat(items));
}

function integer(bytes: Buffer): Buffer {
  return der(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return der(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [first! * 40 + second!];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

/** One DER TLV (X.690 §8.1): definite length, short form below 128 bytes. */
function der(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else {
    const bytes: number[] = [];
    for (let v = length; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
    header = [tag, 0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}
