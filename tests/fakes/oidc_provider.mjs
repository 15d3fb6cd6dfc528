// A real OpenID Connect provider for the tests, on loopback: panva's oidc-provider with its own sign-in pages.
//
//   PORT=… CLIENT_ID=… CLIENT_SECRET=… REDIRECT_URI=… ACCOUNTS_FILE=accounts.json node tests/fakes/oidc_provider.mjs
//
// ACCOUNTS_FILE maps each login to its claims, {"carol": {"email": …, "groups": […]}}, and is read at every
// sign-in, so a test can change someone's groups between two sign-ins. The first-party client's consent is
// granted without asking (oidc-provider's documented loadExistingGrant recipe); the sign-in page is the provider's
// own, which takes any password for a login the file names.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));
const scope = 'openid email profile groups';

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  cookies: { keys: ['switchboard-tests-only'] },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, email_verified: true, ...claims };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(scope);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
