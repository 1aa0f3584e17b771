#!/usr/bin/env python3
"""bench/gateway's setup for the secured rows, through the node's real REST APIs.

On a running node it publishes API `Secure` (context /secure, every GET secured by OAuth2, one
subscription tier) to the bench backend, creates an application subscribed to it with PRODUCTION
keys, and writes into OUTDIR:
  token.txt   one client_credentials access token from the Key Manager (the "token reused" row)
  tokens.txt  COUNT distinct access tokens for the "fresh token per request" row: the first is
              from the Key Manager, the rest are signed here, with the node's primary key, kid,
              issuer and the application's client id, exactly as the Key Manager signs them
              (asking the token endpoint 100,000 times would measure Python, not the gateway).

usage: secure_api.py MGMT_URL ADMIN_PASSWORD BACKEND_URL PRIMARY_KEY_PEM OUTDIR COUNT
"""
import base64
import json
import ssl
import sys
import time
import urllib.parse
import urllib.request
import uuid

import jwt  # PyJWT with cryptography

mgmt, password, backend, key_path, outdir, count = sys.argv[1:7]
count = int(count)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
basic = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()


def call(method, path, body=None, form=None, auth=basic):
    headers = {"Authorization": auth}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(mgmt + path, method=method, data=data, headers=headers)
    with urllib.request.urlopen(req, context=ctx) as r:
        text = r.read()
        return json.loads(text) if text else None


P, D = "/api/am/publisher/v4", "/api/am/devportal/v3"
api = call("POST", f"{P}/apis", {
    "name": "Secure", "context": "/secure", "version": "1.0.0", "policies": ["Unlimited"],
    "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend}},
    "operations": [{"target": "/*", "verb": "GET", "authType": "Application & Application User",
                    "throttlingPolicy": "Unlimited"}]})
rev = call("POST", f"{P}/apis/{api['id']}/revisions", {"description": "bench"})
call("POST", f"{P}/apis/{api['id']}/deploy-revision?revisionId={rev['id']}",
     [{"name": "Default", "vhost": "localhost", "displayOnDevportal": True}])
call("POST", f"{P}/apis/change-lifecycle?apiId={api['id']}&action=Publish")
app = call("POST", f"{D}/applications", {"name": "BenchApp", "throttlingPolicy": "Unlimited"})
call("POST", f"{D}/subscriptions", {"applicationId": app["applicationId"], "apiId": api["id"],
                                      "throttlingPolicy": "Unlimited"})
keys = call("POST", f"{D}/applications/{app['applicationId']}/generate-keys", {
    "keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"], "validityTime": 3600})
client_id = keys["consumerKey"]
token = keys["token"]["accessToken"]
with open(f"{outdir}/token.txt", "w") as f:
    f.write(token + "\n")

header = jwt.get_unverified_header(token)
claims = jwt.decode(token, options={"verify_signature": False})
with open(key_path, "rb") as f:
    key = f.read()
started = time.time()
with open(f"{outdir}/tokens.txt", "w") as f:
    f.write(token + "\n")
    now = int(time.time())
    for _ in range(count - 1):
        fresh = dict(claims, iat=now, nbf=now, exp=now + 3600, jti=str(uuid.uuid4()))
        f.write(jwt.encode(fresh, key, algorithm=header["alg"], headers={"kid": header["kid"]}) + "\n")
print(f"secured API {api['id']}, client {client_id}, {count} tokens signed in {time.time() - started:.1f} s",
      file=sys.stderr)
