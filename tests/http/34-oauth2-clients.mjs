// tests/http/34-oauth2-clients.mjs: off-the-shelf Node clients against
// magenta-auth, unmodified: openid-client (discovery, the password and
// refresh_token grants, introspection, userinfo, revocation) and jose
// (createRemoteJWKSet + jwtVerify through the discovery document's jwks_uri).
// Run by 34-oauth2.bats with NODE_PATH set to a private npm install:
//   node 34-oauth2-clients.mjs ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
// Prints "ok" last; any failure throws (non-zero exit).
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const require = createRequire(process.env.NODE_PATH + "/");
const { Issuer, errors } = require("openid-client");
const jose = await import(process.env.NODE_PATH + "/jose/dist/node/esm/index.js");

const [issuerUrl, clientId, clientSecret, username, password] = process.argv.slice(2);

const issuer = await Issuer.discover(issuerUrl);
assert.equal(issuer.issuer, issuerUrl);
const client = new issuer.Client({
  client_id: clientId,
  client_secret: clientSecret,
  token_endpoint_auth_method: "client_secret_basic",
  // client metadata, as registered (OIDC Registration 2: RS256 unless said)
  id_token_signed_response_alg: issuer.metadata.id_token_signing_alg_values_supported[0],
});

// password grant
const set = await client.grant({ grant_type: "password", username, password, scope: "openid profile email" });
assert.equal(set.token_type.toLowerCase(), "bearer");
assert.ok(set.access_token && set.refresh_token);
assert.equal(set.scope, "openid profile email");
// the ID token: openid-client has checked its signature, iss, aud, exp,
// iat and at_hash already (it refuses the grant otherwise)
assert.ok(set.id_token);
assert.equal(set.claims().aud, clientId);
assert.equal(set.claims().azp, clientId);

// jose verifies the access token with the published keys
const jwks = jose.createRemoteJWKSet(new URL(issuer.metadata.jwks_uri));
const { payload } = await jose.jwtVerify(set.access_token, jwks, { issuer: issuerUrl, audience: "magenta" });
assert.equal(payload.username, username);
assert.equal(payload.client_id, clientId);
assert.equal(payload.scope, "openid profile email");
const idt = await jose.jwtVerify(set.id_token, jwks, { issuer: issuerUrl, audience: clientId });
assert.equal(idt.payload.sub, payload.sub);
// neither token passes for the other
await assert.rejects(jose.jwtVerify(set.id_token, jwks, { issuer: issuerUrl, audience: "magenta" }));

// refresh: a new pair, the old refresh token spent
const next = await client.refresh(set.refresh_token);
assert.notEqual(next.refresh_token, set.refresh_token);
await jose.jwtVerify(next.access_token, jwks, { issuer: issuerUrl, audience: "magenta" });

// introspection and userinfo
const live = await client.introspect(next.access_token);
assert.equal(live.active, true);
assert.equal(live.sub, payload.sub);
assert.equal(live.client_id, clientId);
assert.equal((await client.introspect(set.refresh_token)).active, false);
const info = await client.userinfo(next.access_token);
assert.equal(info.sub, payload.sub);
assert.equal(info.preferred_username, username);

// a wrong password: openid-client's own error for invalid_grant
await assert.rejects(client.grant({ grant_type: "password", username, password: password + "x" }),
  (e) => e instanceof errors.OPError && e.error === "invalid_grant");

// revocation ends the session: both tokens dead
await client.revoke(next.refresh_token, "refresh_token");
assert.equal((await client.introspect(next.access_token)).active, false);
await assert.rejects(client.refresh(next.refresh_token),
  (e) => e instanceof errors.OPError && e.error === "invalid_grant");
console.log("ok");
