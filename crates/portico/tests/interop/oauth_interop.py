"""Interoperability check of Portico's Key Manager with an independent OAuth2/JOSE stack.

PyJWT (with cryptography) validates our JWTs against our JWKS; requests drives DCR, the token
endpoint, introspection and revocation. Usage:

    python3 oauth_interop.py <base-url> <admin-user> <admin-password> <ca-cert.pem>

Exits non-zero with a message on the first difference from the OAuth2 RFCs or WSO2's formats.
"""

import sys

import jwt
import requests


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    base, admin, password, ca = sys.argv[1:5]
    s = requests.Session()
    s.verify = ca
    # REQUESTS_CA_BUNDLE in the environment would override the session's CA file.
    s.trust_env = False

    # WSO2's DCR request, unchanged.
    r = s.post(
        f"{base}/client-registration/v0.17/register",
        auth=(admin, password),
        json={
            "callbackUrl": "www.google.lk",
            "clientName": "interop",
            "owner": admin,
            "grantType": "client_credentials password refresh_token",
            "saasApp": True,
        },
    )
    check(r.status_code == 200, f"DCR: {r.status_code} {r.text}")
    app = r.json()
    client = (app["clientId"], app["clientSecret"])

    # Discovery and JWKS.
    meta = s.get(f"{base}/oauth2/token/.well-known/openid-configuration").json()
    issuer = meta["issuer"]
    jwks = s.get(meta["jwks_uri"]).json()
    keyset = jwt.PyJWKSet.from_dict(jwks)
    check(len(keyset.keys) >= 1, f"JWKS has no usable key: {jwks}")

    # Password grant with scopes (client authenticated by HTTP Basic).
    r = s.post(
        f"{base}/oauth2/token",
        auth=client,
        data={
            "grant_type": "password",
            "username": admin,
            "password": password,
            "scope": "apim:api_view apim:admin",
        },
    )
    check(r.status_code == 200, f"password grant: {r.status_code} {r.text}")
    answer = r.json()
    check(answer["token_type"] == "Bearer", f"token_type: {answer}")
    check("refresh_token" in answer, f"no refresh token: {answer}")
    access = answer["access_token"]

    def validate(token):
        header = jwt.get_unverified_header(token)
        key = next(k for k in keyset.keys if k.key_id == header["kid"])
        return jwt.decode(
            token,
            key.key,
            algorithms=[header["alg"]],
            issuer=issuer,
            audience=client[0],
            options={"require": ["exp", "iat", "nbf", "iss", "sub", "jti"]},
        )

    claims = validate(access)
    check(claims["sub"] == admin, f"sub: {claims}")
    check(claims["client_id"] == client[0] and claims["azp"] == client[0], f"client: {claims}")
    check(set(claims["scope"].split()) == {"apim:api_view", "apim:admin"}, f"scope: {claims}")
    check(claims["aut"] == "APPLICATION_USER" and claims["keytype"] == "PRODUCTION", f"aut/keytype: {claims}")
    check(claims["exp"] - claims["iat"] == 3600, f"lifetime: {claims}")

    # A token with one changed payload character must not validate.
    head, payload, sig = access.split(".")
    forged = ".".join([head, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], sig])
    try:
        validate(forged)
        raise AssertionError("a forged token validated")
    except jwt.InvalidTokenError:
        pass

    # client_credentials by form fields.
    r = s.post(
        f"{base}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
            "scope": "apim:admin",
        },
    )
    check(r.status_code == 200, f"client_credentials: {r.status_code} {r.text}")
    cc = r.json()["access_token"]
    check(validate(cc)["aut"] == "APPLICATION", "client_credentials token is an APPLICATION token")

    # RFC 6749 errors.
    r = s.post(f"{base}/oauth2/token", auth=(client[0], "wrong"), data={"grant_type": "client_credentials"})
    check(r.status_code == 401 and r.json()["error"] == "invalid_client", f"bad secret: {r.status_code} {r.text}")
    check("WWW-Authenticate" in r.headers, "401 without WWW-Authenticate")
    r = s.post(f"{base}/oauth2/token", auth=client, data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    check(r.status_code == 400 and r.json()["error"] == "unsupported_grant_type", f"grant: {r.text}")

    # Bearer on the Admin API, introspection, revocation.
    env = f"{base}/api/am/admin/v4/environments"
    check(s.get(env, headers={"Authorization": f"Bearer {cc}"}).status_code == 200, "bearer refused")
    r = s.post(f"{base}/oauth2/introspect", auth=client, data={"token": cc})
    check(r.status_code == 200 and r.json()["active"] is True, f"introspect: {r.text}")
    check(r.json()["client_id"] == client[0], f"introspect client_id: {r.text}")
    r = s.post(f"{base}/oauth2/revoke", auth=client, data={"token": cc, "token_type_hint": "access_token"})
    check(r.status_code == 200, f"revoke: {r.status_code} {r.text}")
    r = s.post(f"{base}/oauth2/introspect", auth=client, data={"token": cc})
    check(r.json() == {"active": False}, f"introspect after revoke: {r.text}")
    check(s.get(env, headers={"Authorization": f"Bearer {cc}"}).status_code == 401, "revoked token accepted")

    # Refresh: rotation, then reuse of the old refresh token is refused.
    r = s.post(f"{base}/oauth2/token", auth=client, data={"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]})
    check(r.status_code == 200, f"refresh: {r.status_code} {r.text}")
    validate(r.json()["access_token"])
    r = s.post(f"{base}/oauth2/token", auth=client, data={"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]})
    check(r.status_code == 400 and r.json()["error"] == "invalid_grant", f"refresh reuse: {r.text}")
    print("interop OK: DCR, password, client_credentials, refresh rotation, JWKS validation, introspect, revoke")


if __name__ == "__main__":
    main()
