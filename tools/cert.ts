/**
 * The certificate credential for the app registration (see docs/deploy.md, "Certificate credentials"):
 *   npm run admin -- cert create --key <KMS key id or ARN> --subject "CN=dynamics-auth" --days 365 [--out cert.pem]
 *   npm run admin -- cert create --key-file local-assertion-key.pem --subject "CN=dynamics-auth-local" --days 30
 * Needs kms:GetPublicKey and kms:Sign on the key (the operator's credentials, not the service's).
 */
import { writeFileSync } from 'node:fs';
import { createSelfSignedCertificate } from '../shared/crypto/certificate.ts';
import { KmsSigner } from '../shared/crypto/kms-signer.ts';
import { LocalRsaSigner, type Signer } from '../shared/crypto/signer.ts';

export const certUsage =
  'usage: admin cert create (--key <kms key id/arn> | --key-file <rsa key pem>) --subject "CN=<name>" [--days 365] [--out cert.pem]';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  const value = i >= 0 ? args[i + 1] : undefined;
  return value && !value.startsWith('--') ? value : undefined;
}

export async function certCommand(
  args: string[],
  out: { log: (line: string) => void; error: (line: string) => void } = console,
): Promise<number> {
  const [command, ...rest] = args;
  const keyId = option(rest, '--key');
  const keyFile = option(rest, '--key-file');
  const subject = option(rest, '--subject');
  const days = Number(option(rest, '--days') ?? '365');
  if (command !== 'create' || !subject || Boolean(keyId) === Boolean(keyFile)) {
    out.error(certUsage);
    return 2;
  }
  const signer: Signer = keyId ? new KmsSigner(keyId) : LocalRsaSigner.fromFile(keyFile!);
  let certificate;
  try {
    certificate = await createSelfSignedCertificate(signer, { subject, days });
  } catch (err) {
    out.error(`cert create failed: ${(err as Error).message}`);
    return err instanceof RangeError ? 2 : 1;
  }
  const path = option(rest, '--out');
  if (path) writeFileSync(path, certificate.pem, { mode: 0o644 });
  else out.log(certificate.pem.trimEnd());
  out.log(
    [
      path ? `Wrote ${path}: upload it to the app registration (Certificates & secrets > Certificates).` : '',
      `Valid ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}.`,
      `CLIENT_CERTIFICATE_THUMBPRINT_S256=${certificate.thumbprintS256}`,
      `SHA-1 thumbprint (as the Entra portal lists it): ${certificate.thumbprintSha1Hex}`,
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return 0;
}
