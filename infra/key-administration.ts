import { AccountRootPrincipal, PolicyStatement } from 'aws-cdk-lib/aws-iam';

/**
 * The key-policy statement that keeps a key manageable: the account root administers it (so the key
 * can never become unmanageable) with exactly `actions`, which never include a data-plane action.
 * In a key policy, Resource "*" means "this key".
 */
export function keyAdministrationStatement(actions: string[]): PolicyStatement {
  return new PolicyStatement({
    sid: 'KeyAdministration',
    principals: [new AccountRootPrincipal()],
    actions,
    resources: ['*'],
  });
}
