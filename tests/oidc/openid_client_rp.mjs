// A relying party built on panva's openid-client (v6), the strictest certified OIDC client:
// pytest runs it step by step against a real Poort over https (tests/oidc/test_openid_client.py).
//
//   node openid_client_rp.mjs discover  '{"issuer": ...}'
//   node openid_client_rp.mjs authorize '{"issuer", "client_id", "client_secret", "redirect_uri", "scope", "nonce", "max_age"}'
//   node openid_client_rp.mjs callback  '{..., "callback_url", "verifier", "state", "nonce", "max_age", "post_logout_redirect_uri"}'
//
// Each prints one JSON object on stdout: the results, or {"error": {name, code, message}}.
import * as client from "openid-client";

const [command, raw] = process.argv.slice(2);
const input = JSON.parse(raw);

async function configuration() {
  return client.discovery(
    new URL(input.issuer),
    input.client_id,
    undefined,
    client.ClientSecretBasic(input.client_secret),
  );
}

async function discover() {
  const config = await configuration();
  const metadata = config.serverMetadata();
  return { issuer: metadata.issuer, supportsPKCE: metadata.supportsPKCE() };
}

async function authorize() {
  const config = await configuration();
  const verifier = client.randomPKCECodeVerifier();
  const parameters = {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state: client.randomState(),
  };
  if (input.nonce) parameters.nonce = client.randomNonce();
  if (input.max_age !== undefined) parameters.max_age = String(input.max_age);
  if (input.acr_values) parameters.acr_values = input.acr_values;
  const url = client.buildAuthorizationUrl(config, parameters);
  return {
    url: url.href,
    verifier,
    state: parameters.state,
    nonce: parameters.nonce ?? null,
    supportsPKCE: config.serverMetadata().supportsPKCE(),
  };
}

async function callback() {
  const config = await configuration();
  const checks = { pkceCodeVerifier: input.verifier, expectedState: input.state };
  if (input.nonce) checks.expectedNonce = input.nonce;
  if (input.max_age !== undefined && input.max_age !== null) checks.maxAge = input.max_age;
  const tokens = await client.authorizationCodeGrant(config, new URL(input.callback_url), checks);
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const after = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  // The old refresh token was rotated away: using it again must fail (and end the family).
  let replay = null;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
    replay = "accepted";
  } catch (error) {
    replay = error.error ?? error.code ?? error.name;
  }
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: input.post_logout_redirect_uri,
    state: "logout-state",
  });
  return {
    claims,
    token_type: tokens.token_type,
    expires_in: tokens.expiresIn(),
    scope: tokens.scope,
    userinfo,
    refreshed_rotated: refreshed.refresh_token !== tokens.refresh_token,
    userinfo_after_refresh: after,
    replay,
    end_session_url: endSession.href,
  };
}

const commands = { discover, authorize, callback };

try {
  const result = await commands[command]();
  process.stdout.write(JSON.stringify(result) + "\n");
} catch (error) {
  process.stdout.write(
    JSON.stringify({
      error: {
        name: error.name,
        code: error.code ?? null,
        error: error.error ?? null,
        message: String(error.message),
        // openid-client wraps oauth4webapi's error, which says what check failed.
        cause: error.cause ? String(error.cause.message ?? error.cause) : null,
        cause_code: error.cause?.code ?? null,
      },
    }) + "\n",
  );
}
