#!/usr/bin/env python3
"""Sends RATE password-authenticated requests per second to a node's management port for
DURATION seconds (GET /api/am/admin/v4/environments with HTTP Basic), over a few keep-alive
HTTPS connections, and prints how they were answered as one JSON line. MODE `right` sends the
admin's password; `wrong` a new random password every time (what a guessing attacker sends).

usage: password_flood.py MGMT_HOST:PORT PASSWORD MODE RATE DURATION
"""
import base64
import http.client
import json
import os
import ssl
import sys
import threading
import time

target, password, mode, rate, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
host, port = target.rsplit(":", 1)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
CONNECTIONS = 4
counts = {}
lock = threading.Lock()


def credentials():
    pw = password if mode == "right" else base64.urlsafe_b64encode(os.urandom(12)).decode()
    return "Basic " + base64.b64encode(f"admin:{pw}".encode()).decode()


def worker(index):
    interval = CONNECTIONS / rate
    start = time.monotonic() + index * (1.0 / rate)
    end = time.monotonic() + duration
    conn = None
    n = 0
    while True:
        due = start + n * interval
        now = time.monotonic()
        if due >= end:
            break
        if due > now:
            time.sleep(due - now)
        n += 1
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
            conn.request("GET", "/api/am/admin/v4/environments", headers={"Authorization": credentials()})
            response = conn.getresponse()
            response.read()
            key = str(response.status)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:  # a refused or reset connection is an answer too
            key = type(e).__name__
            conn = None
        with lock:
            counts[key] = counts.get(key, 0) + 1


threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(counts, sort_keys=True))
