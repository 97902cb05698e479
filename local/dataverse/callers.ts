import { createHash, randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { CODES, DataverseError } from './errors.ts';
import { SEEDED_USERS, type StandInUser } from './schema.ts';
import { GUID } from '../../shared/config/guid.ts';
import { withoutTrailingSlash } from '../../shared/config/urls.ts';
import { bearerCredential } from '../../shared/http/bearer.ts';

/**
 * Who calls the stand-in: bearer tokens checked as Dataverse checks them, the environment's
 * systemusers, and impersonation. Tests can expire the tokens seen so far or reject one user.
 */
export class StandInCallers {
  private readonly users: StandInUser[] = SEEDED_USERS.map((u) => ({ ...u }));
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  /** Tokens presented so far (by SHA-256), and those revoked by expireIssuedTokens(). */
  private readonly seenTokens = new Set<string>();
  private readonly revokedTokens = new Set<string>();
  /** Users (by `oid`) whose every token, however fresh, is answered with 401. */
  private readonly rejectedUsers = new Set<string>();

  constructor(private readonly options: { issuer: string; jwksUri?: string; tenantId?: string }) {
    this.jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${withoutTrailingSlash(options.issuer)}/jwks`));
  }

  /** Treat every access token presented so far as expired; tokens issued later still work. */
  expireIssuedTokens(): void {
    for (const token of this.seenTokens) this.revokedTokens.add(token);
    this.seenTokens.clear();
  }

  rejectUser(oid: string): void {
    this.rejectedUsers.add(oid);
  }

  acceptUser(oid: string): void {
    this.rejectedUsers.delete(oid);
  }

  /**
   * The user a token names. Dataverse accepts only tokens issued for this environment: `aud` must be
   * its own URL (Entra sets it from the scope `<environment>/user_impersonation`).
   */
  async authenticate(authorization: string | undefined, audience: string): Promise<StandInUser | undefined> {
    const token = bearerCredential(authorization);
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.jwks, { issuer: this.options.issuer, audience });
      const id = createHash('sha256').update(token).digest('base64url');
      if (this.revokedTokens.has(id)) return undefined;
      if (typeof payload.oid === 'string' && this.rejectedUsers.has(payload.oid)) return undefined;
      if (this.options.tenantId && payload.tid !== this.options.tenantId) return undefined;
      this.seenTokens.add(id);
      const oid = typeof payload.oid === 'string' ? payload.oid : undefined;
      return this.userFor(oid ?? payload.sub ?? '', typeof payload.name === 'string' ? payload.name : '');
    } catch {
      return undefined;
    }
  }

  /** The systemuser of an Entra object id; a user seen for the first time is provisioned without roles. */
  private userFor(objectId: string, name: string): StandInUser {
    const known = this.users.find((u) => u.azureactivedirectoryobjectid === objectId.toLowerCase());
    if (known) return known;
    const user = {
      systemuserid: randomUUID(),
      azureactivedirectoryobjectid: objectId.toLowerCase(),
      fullname: name,
      canImpersonate: false,
    };
    this.users.push(user);
    return user;
  }

  /**
   * Impersonation: `MSCRMCallerID` (systemuserid) or `CallerObjectId` (Entra object id) make the
   * request run as another user, if the caller holds prvActOnBehalfOfAnotherUser (403 otherwise).
   * Microsoft: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
   */
  impersonated(user: StandInUser, headers: Record<string, string>): StandInUser {
    const byUserId = headers.mscrmcallerid;
    const byObjectId = headers.callerobjectid;
    if (!byUserId && !byObjectId) return user;
    if (!user.canImpersonate) {
      throw new DataverseError(
        403,
        CODES.privilege,
        `Principal user (Id=${user.systemuserid}, type=8) is missing prvActOnBehalfOfAnotherUser privilege (Id=a2cabd5f-6f4b-4f52-8a50-1e4e0b5d3a9c).`,
      );
    }
    const id = (byUserId ?? byObjectId)!;
    if (!GUID.test(id))
      throw new DataverseError(400, CODES.argument, `'${id}' is not a valid user id for impersonation.`);
    const target = byUserId
      ? this.users.find((u) => u.systemuserid === id.toLowerCase())
      : this.users.find((u) => u.azureactivedirectoryobjectid === id.toLowerCase());
    if (!target)
      throw new DataverseError(404, CODES.notFound, `systemuser With Id = ${id.toLowerCase()} Does Not Exist`);
    return target;
  }
}
