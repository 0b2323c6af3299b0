// A real OpenID provider (npm oidc-provider) on loopback for the login tests.
// Usage: node provider.mjs PORT REDIRECT_URI; prints "ready" when it listens.
// Its development login form signs in anyone; the claims come from the login name:
// `s0001` is a student with that student number, anything else is staff.
import Provider from 'oidc-provider';

const [port, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'consentry',
    client_secret: 'consentry-test-secret',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri.replace('/auth/callback', '/')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'eduperson_affiliation', 'student_number'] },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(_ctx, id) {
    const student = /^s\d{4}$/.test(id);
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: `Test ${id}`,
          eduperson_affiliation: [student ? 'student' : 'employee'],
          ...(student ? { student_number: String(4100000 + Number(id.slice(1))) } : {}),
        };
      },
    };
  },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
