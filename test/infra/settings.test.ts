/** CDK context → construct props: defaults, placeholders and validation errors naming the setting. */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { readSettings, SETTINGS, type SettingName } from '../../infra/settings.ts';

const read = (ctx: Partial<Record<SettingName, unknown>>) => readSettings((name) => ctx[name]);

describe('readSettings', () => {
  it('works with no context at all (fresh clone), flagging the placeholders', () => {
    const s = read({});
    expect(s.stackName).toBe('DynamicsAuthService');
    expect(s.placeholders).toEqual(['clientId', 'dynamicsUrl', 'allowedReturnUrls']);
    expect(s).not.toHaveProperty('alarmEmail');
    expect(s.serviceProps).toEqual({
      clientId: '00000000-0000-0000-0000-000000000000',
      dynamicsUrl: 'https://contoso.crm.dynamics.com',
      allowedReturnUrls: ['http://localhost:5173'],
      entraAuthority: 'https://login.microsoftonline.com/organizations/v2.0',
      throttle: { rateLimit: 50, burstLimit: 100 },
      signInThrottle: { rateLimit: 10, burstLimit: 20 },
      logRetention: RetentionDays.ONE_MONTH,
      logLevel: 'INFO',
    });
  });

  it('reads every setting (strings from -c, numbers from cdk.json)', () => {
    const s = read({
      stackName: 'Auth-Prod',
      clientId: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE',
      dynamicsUrl: 'https://org.crm4.dynamics.com/',
      allowedReturnUrls: ' https://app.example.com , https://admin.example.com/console,',
      entraAuthority: 'https://login.microsoftonline.com/0b1c2d3e-0000-0000-0000-000000000000/v2.0',
      clientSecretName: 'dynamics-auth/client-secret',
      publicBaseUrl: 'https://auth.example.com/',
      throttleRate: '12.5',
      throttleBurst: 40,
      logRetentionDays: '90',
      logLevel: 'warn',
      nativeRedirectSchemes: ' com.contoso.crmcli, Com.Contoso.Excel-Addin ,com.contoso.crmcli,',
      alarmEmail: ' Ops.Team+alarms@sub.example.co.uk ',
    });
    expect(s.stackName).toBe('Auth-Prod');
    expect(s.alarmEmail).toBe('Ops.Team+alarms@sub.example.co.uk');
    expect(s.placeholders).toEqual([]);
    expect(s.serviceProps).toEqual({
      clientId: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE',
      dynamicsUrl: 'https://org.crm4.dynamics.com',
      allowedReturnUrls: ['https://app.example.com', 'https://admin.example.com/console'],
      entraAuthority: 'https://login.microsoftonline.com/0b1c2d3e-0000-0000-0000-000000000000/v2.0',
      clientSecret: 'dynamics-auth/client-secret',
      publicBaseUrl: 'https://auth.example.com',
      throttle: { rateLimit: 12.5, burstLimit: 40 },
      signInThrottle: { rateLimit: 10, burstLimit: 20 },
      logRetention: RetentionDays.THREE_MONTHS,
      logLevel: 'WARN',
      nativeRedirectSchemes: ['com.contoso.crmcli', 'com.contoso.excel-addin'],
    });
  });

  it("passes otelLayerArn (the Region's ADOT JavaScript layer) through to the construct", () => {
    const arn = 'arn:aws:lambda:eu-west-1:111122223333:layer:AWSOpenTelemetryDistroJs:7';
    expect(read({ otelLayerArn: ` ${arn} ` }).serviceProps.otelLayerArn).toBe(arn);
    expect(read({}).serviceProps).not.toHaveProperty('otelLayerArn');
  });

  it('flags allowedReturnUrls while it is still the localhost development default', () => {
    // It would otherwise be trusted silently for CORS (with credentials), the CSRF check and returnTo.
    expect(read({ allowedReturnUrls: 'http://localhost:5173' }).placeholders).toContain('allowedReturnUrls');
    expect(read({ allowedReturnUrls: 'http://localhost:5173/' }).placeholders).toContain('allowedReturnUrls');
    expect(read({ allowedReturnUrls: ' ' }).placeholders).toContain('allowedReturnUrls');
    expect(read({ allowedReturnUrls: 'https://app.example.com' }).placeholders).not.toContain('allowedReturnUrls');
    // A real origin next to the development one is a deliberate choice, not a forgotten default.
    expect(read({ allowedReturnUrls: 'https://app.example.com,http://localhost:5173' }).placeholders).not.toContain(
      'allowedReturnUrls',
    );
    expect(read({ allowedReturnUrls: 'http://localhost:3000' }).placeholders).not.toContain('allowedReturnUrls');
  });

  it('leaves nativeRedirectSchemes out when unset or empty (NATIVE_REDIRECT_SCHEMES is then omitted)', () => {
    expect(read({}).serviceProps).not.toHaveProperty('nativeRedirectSchemes');
    expect(read({ nativeRedirectSchemes: ' ' }).serviceProps).not.toHaveProperty('nativeRedirectSchemes');
    expect(read({ nativeRedirectSchemes: 'com.contoso.crmcli' }).serviceProps.nativeRedirectSchemes).toEqual([
      'com.contoso.crmcli',
    ]);
  });

  it('accepts a complete secret ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dynamics/client-AbC123';
    expect(read({ clientSecretName: arn }).serviceProps.clientSecret).toBe(arn);
  });

  it.each<[SettingName, unknown]>([
    ['stackName', '1-starts-with-digit'],
    ['clientId', 'my-app'],
    ['dynamicsUrl', 'http://org.crm.dynamics.com'],
    ['dynamicsUrl', 'https://org.crm.dynamics.com/api/data/v9.2'],
    ['dynamicsUrl', 'org.crm.dynamics.com'],
    ['allowedReturnUrls', ','],
    ['allowedReturnUrls', 'https://*.example.com'],
    ['allowedReturnUrls', 'http://app.example.com'],
    ['allowedReturnUrls', 'https://app.example.com/?next=1'],
    ['allowedReturnUrls', 'https://user:pw@app.example.com'],
    ['entraAuthority', 'login.microsoftonline.com/common'],
    ['clientSecretName', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dynamics/client'],
    ['clientSecretName', 'has spaces'],
    ['publicBaseUrl', 'http://auth.example.com'],
    ['throttleRate', 'fast'],
    ['throttleRate', '0'],
    ['throttleBurst', '2.5'],
    ['throttleBurst', '-1'],
    ['logRetentionDays', '31'],
    ['logLevel', 'TRACE'],
    ['clientId', { nested: true }],
    ['nativeRedirectSchemes', 'crmcli'],
    ['nativeRedirectSchemes', 'https'],
    ['nativeRedirectSchemes', 'com.contoso.crmcli,myapp'],
    ['nativeRedirectSchemes', 'com.contoso.crmcli:/callback'],
    ['nativeRedirectSchemes', 'com.contoso.crm cli'],
    ['nativeRedirectSchemes', '.com.contoso'],
    ['nativeRedirectSchemes', 'com..contoso'],
    ['nativeRedirectSchemes', '1com.contoso'],
    ['nativeRedirectSchemes', ['com.contoso.crmcli']],
    ['alarmEmail', 'ops'],
    ['alarmEmail', 'ops@'],
    ['alarmEmail', '@example.com'],
    ['alarmEmail', 'ops@example'],
    ['alarmEmail', 'ops@@example.com'],
    ['alarmEmail', 'ops@example.com,dev@example.com'],
    ['alarmEmail', 'ops@example.com dev@example.com'],
    ['alarmEmail', 'Ops <ops@example.com>'],
    ['alarmEmail', '.ops@example.com'],
    ['alarmEmail', 'ops..team@example.com'],
    ['alarmEmail', 'ops@-example.com'],
    ['alarmEmail', 'ops@example..com'],
    ['alarmEmail', 'ops@127.0.0.1'],
    ['alarmEmail', 'ops@[127.0.0.1]'],
    ['alarmEmail', `${'x'.repeat(65)}@example.com`],
    ['alarmEmail', ['ops@example.com']],
  ])('rejects %s=%j with an error naming it', (name, value) => {
    expect(() => read({ [name]: value })).toThrow(new RegExp(`^Invalid setting "${name}"`));
  });

  it('says what a native redirect scheme must look like', () => {
    expect(() => read({ nativeRedirectSchemes: 'myapp' })).toThrow(
      'Invalid setting "nativeRedirectSchemes" (-c nativeRedirectSchemes=myapp): expected comma-separated private-use URI schemes in reverse-domain form, such as com.contoso.crmcli',
    );
  });

  it('documents every setting (SETTINGS lists nativeRedirectSchemes and alarmEmail, unset by default)', () => {
    expect(SETTINGS).toHaveProperty('nativeRedirectSchemes', undefined);
    expect(SETTINGS).toHaveProperty('alarmEmail', undefined);
  });

  it('alarmEmail: one plain address, trimmed, kept as given; an empty value means no topic', () => {
    for (const email of ['ops@example.com', 'a@b.co', "o'brien!#$%&*+/=?^_`{|}~-@xn--bcher-kva.example"]) {
      expect(read({ alarmEmail: email }).alarmEmail).toBe(email);
    }
    expect(read({ alarmEmail: ' ' })).not.toHaveProperty('alarmEmail');
    expect(() => read({ alarmEmail: 'ops' })).toThrow(
      'Invalid setting "alarmEmail" (-c alarmEmail=ops): expected one email address, such as ops@example.com',
    );
  });
});

describe('identity-provider settings', () => {
  it('passes idpProfile, resourceIndicator and postLogoutRedirectUri through verbatim', () => {
    const s = read({
      idpProfile: 'Standard',
      resourceIndicator: 'https://crm.contoso.com/',
      postLogoutRedirectUri: 'https://app.example.com/signed-out',
    });
    expect(s.serviceProps).toMatchObject({
      idpProfile: 'standard',
      resourceIndicator: 'https://crm.contoso.com/',
      postLogoutRedirectUri: 'https://app.example.com/signed-out',
    });
    expect(read({}).serviceProps).not.toHaveProperty('idpProfile');
  });

  it('refuses an unknown profile and malformed URLs, naming the setting', () => {
    expect(() => read({ idpProfile: 'adfs' })).toThrow(
      'Invalid setting "idpProfile" (-c idpProfile=adfs): expected entra or standard',
    );
    expect(() => read({ resourceIndicator: 'http://crm.contoso.com' })).toThrow(/resourceIndicator.*https/);
    expect(() => read({ postLogoutRedirectUri: 'https://app.example.com/bye#x' })).toThrow(/postLogoutRedirectUri/);
  });
});
