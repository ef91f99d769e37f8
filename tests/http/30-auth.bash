# shellcheck shell=bash
# tests/http/30-auth.bash: helpers of the 30-auth-*.bats files (load 30-auth).
#
#   seed_user NAME EMAIL [PASSWORD]   a live user in auth_users, as the event
#                                     consumer would write it; prints its id
#   login IDENT [PASSWORD] [JSON]     POST /api/auth/login (JSON: extra members)
#   login_from ADDR IDENT [PASSWORD]  the same through a trusted proxy for ADDR
#   refresh TOKEN                     POST /api/auth/refresh
#   me TOKEN                          GET /api/auth/me with the Bearer token
#   auth_config KEY=VALUE...          restart lighttpd with these config lines
#                                     added to $STACK_DIR/magenta.conf
#   auth_config_restore               put the configuration back and restart
#   forge KIND SUB SID [KEYFILE]      a token made by hand (see forge.py below)
#   jwt_claims TOKEN                  the payload of a token as JSON
#   pubkey_pem_from_jwks FILE         the first JWKS key as a PEM file

AUTH_PW='correct horse battery staple'
AUTH_FAIL_BODY='{"error":"invalid_credentials","message":"Invalid credentials."}'
PY=/usr/bin/python3

# The argon2id hash of PASSWORD, made once per file by magentactl.
auth_hash() {
	local pw=${1:-$AUTH_PW} f
	f="$BATS_FILE_TMPDIR/hash.$(printf '%s' "$pw" | sha256sum | cut -c1-16)"
	if [[ ! -s $f ]]; then
		printf '%s' "$pw" | "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" hash-password >"$f"
	fi
	cat "$f"
}

seed_user() {
	local hash
	hash=$(auth_hash "${3:-$AUTH_PW}")
	psql_auth "INSERT INTO auth_users (id, username, email, password_hash, security_stamp,
		email_confirmed, version, created_at, updated_at)
		VALUES (gen_random_uuid(), '$1', '$2', '$hash', md5(random()::text), true, 1,
		'2026-01-02 03:04:05.678+00', now()) RETURNING id"
}

login() {
	local extra=${3:-'{}'}
	post_json /api/auth/login "$(jq -cn --arg u "$1" --arg p "${2:-$AUTH_PW}" --argjson x "$extra" \
		'{usernameOrEmail:$u,password:$p} + $x')"
}

login_from() {
	api POST /api/auth/login -H 'Content-Type: application/json' -H "X-Forwarded-For: $1" \
		--data-binary "$(jq -cn --arg u "$2" --arg p "${3:-$AUTH_PW}" '{usernameOrEmail:$u,password:$p}')"
}

refresh() {
	post_json /api/auth/refresh "$(jq -cn --arg t "$1" '{refreshToken:$t}')"
}

me() {
	api GET /api/auth/me -H "Authorization: Bearer $1"
}

auth_config() {
	local conf=$STACK_DIR/magenta.conf
	[[ -f $conf.auth-orig ]] || cp "$conf" "$conf.auth-orig"
	cp "$conf.auth-orig" "$conf"
	printf '%s\n' "# added by tests/http/30-auth.bash" "$@" >>"$conf"
	stack_lighttpd_restart >/dev/null
}

auth_config_restore() {
	local conf=$STACK_DIR/magenta.conf
	if [[ -f $conf.auth-orig ]]; then
		mv "$conf.auth-orig" "$conf"
		stack_lighttpd_restart >/dev/null
	fi
}

jwt_claims() {
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while ((${#p} % 4)); do p+='='; done
	base64 -d <<<"$p"
}

pubkey_pem_from_jwks() {
	"$PY" - "$1" <<-'EOF'
		import json, sys
		import jwt
		from cryptography.hazmat.primitives import serialization
		k = json.load(open(sys.argv[1]))["keys"][0]
		pub = jwt.PyJWK(k).key
		sys.stdout.write(pub.public_bytes(serialization.Encoding.PEM,
		    serialization.PublicFormat.SubjectPublicKeyInfo).decode())
	EOF
}

# forge KIND SUB SID [KEYFILE]: a token for SUB/SID signed with KEYFILE
# (default the stack's signing key), broken as KIND says:
#   good       correct in every way (proves the forger itself is right)
#   none       alg "none", no signature
#   hs256      HS256 keyed with our public key PEM (the classic confusion)
#   tampered   a good token whose payload was changed after signing
#   expired    exp two minutes ago (beyond the 30 s leeway)
#   future     nbf ten minutes ahead
#   wrong-iss  iss of another issuer
#   wrong-aud  aud of another audience
#   other-key  signed by a fresh key but naming our kid
#   no-kid     no kid in the header
# (FORGE_SST set: its value as the "sst" claim.)
forge() {
	"$PY" - "$1" "${4:-$STACK_DIR/keys/signing.pem}" "$BASE_URL" "$2" "$3" <<-'EOF'
		import base64, hashlib, hmac, json, os, sys, time
		from cryptography.hazmat.primitives import hashes, serialization
		from cryptography.hazmat.primitives.asymmetric import ec, utils

		kind, keyfile, iss, sub, sid = sys.argv[1:6]
		key = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)

		def b64(b):
		    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

		def enc(obj):
		    return b64(json.dumps(obj, separators=(",", ":")).encode())

		nums = key.public_key().public_numbers()
		canon = json.dumps({"crv": "P-256", "kty": "EC", "x": b64(nums.x.to_bytes(32, "big")),
		                    "y": b64(nums.y.to_bytes(32, "big"))}, separators=(",", ":"), sort_keys=True)
		kid = b64(hashlib.sha256(canon.encode()).digest())
		now = int(time.time())
		hdr = {"alg": "ES256", "typ": "JWT", "kid": kid}
		claims = {"iss": iss, "aud": "magenta", "sub": sub, "iat": now, "nbf": now,
		          "exp": now + 600, "jti": "forged", "sid": sid, "username": "alice"}
		if os.environ.get("FORGE_SST"):
		    claims["sst"] = os.environ["FORGE_SST"]
		signer = key
		if kind == "expired":
		    claims.update(iat=now - 900, nbf=now - 900, exp=now - 120)
		elif kind == "future":
		    claims.update(iat=now + 600, nbf=now + 600, exp=now + 1200)
		elif kind == "wrong-iss":
		    claims["iss"] = "http://evil.example"
		elif kind == "wrong-aud":
		    claims["aud"] = "billing"
		elif kind == "other-key":
		    signer = ec.generate_private_key(ec.SECP256R1())
		elif kind == "no-kid":
		    del hdr["kid"]

		def es256(k, data):
		    r, s = utils.decode_dss_signature(k.sign(data, ec.ECDSA(hashes.SHA256())))
		    return r.to_bytes(32, "big") + s.to_bytes(32, "big")

		if kind == "none":
		    hdr["alg"] = "none"
		    print(enc(hdr) + "." + enc(claims) + ".")
		elif kind == "hs256":
		    hdr["alg"] = "HS256"
		    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
		                                        serialization.PublicFormat.SubjectPublicKeyInfo)
		    si = enc(hdr) + "." + enc(claims)
		    print(si + "." + b64(hmac.new(pem, si.encode(), hashlib.sha256).digest()))
		else:
		    si = enc(hdr) + "." + enc(claims)
		    tok = si + "." + b64(es256(signer, si.encode()))
		    if kind == "tampered":
		        claims["username"] = "admin"
		        h, _, s = tok.split(".")
		        tok = h + "." + enc(claims) + "." + s
		    print(tok)
	EOF
}
