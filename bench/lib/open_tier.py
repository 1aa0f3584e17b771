#!/usr/bin/env python3
"""Raises WSO2's `Unauthenticated` subscription tier (500 requests/min per client IP, what the
gateway counts requests to open resources against) to 2,000,000,000 per minute through the
Admin REST API, so that the benchmarks' open rows are counted by the throttle phase like any
other request but never refused. (2147483647 would be WSO2's "unlimited", which is not counted
at all and would measure less work than a real deployment does.)

usage: open_tier.py MGMT_URL ADMIN_PASSWORD
"""
import base64
import json
import ssl
import sys
import urllib.request

mgmt, password = sys.argv[1:3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
base = f"{mgmt}/api/am/admin/v4/throttling/policies/subscription"


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx) as r:
        return json.load(r)


policies = call("GET", base)["list"]
tier = next((p for p in policies if p["policyName"] == "Unauthenticated"), None)
if tier is None:
    sys.exit("open_tier.py: the node has no Unauthenticated subscription tier")
tier["defaultLimit"]["requestCount"]["requestCount"] = 2_000_000_000
tier["defaultLimit"]["requestCount"]["timeUnit"] = "min"
tier["defaultLimit"]["requestCount"]["unitTime"] = 1
updated = call("PUT", f"{base}/{tier['policyId']}", tier)
print(f"Unauthenticated tier: {updated['defaultLimit']['requestCount']['requestCount']} per minute", file=sys.stderr)
