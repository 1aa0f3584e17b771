#!/usr/bin/env python3
"""Throttling across two real nodes, for bench/throttle: decision latency, overshoot at 10x
oversubscription for 1 s and 1 min windows, and requests while a Traffic Manager is down.

usage: throttle_cluster.py GW1 GW2 MGMT1 ADMIN_PASSWORD NODE2_PID

GW1, GW2: the gateways' http://host:port; both serve the open API /bench/1.0.0/menu. The nodes
key unauthenticated requests by the first X-Forwarded-For hop (trust_forwarded_for = true), so
every trial and phase sends its own addresses: fresh throttle keys, no state shared with the
one before. The limits are the Unauthenticated tier's, set through the Admin REST API.

Prints tab-separated `metric<TAB>value` lines on stdout; progress on stderr.
"""
import base64
import http.client
import json
import os
import signal
import ssl
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

GW1, GW2, MGMT, PASSWORD, NODE2_PID = sys.argv[1:6]
PATH = "/bench/1.0.0/menu"
TRIALS = int(os.environ.get("TRIALS", "200"))
SECOND_WINDOWS = int(os.environ.get("SECOND_WINDOWS", "10"))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(metric, value):
    print(f"{metric}\t{value}", flush=True)


def admin(method, path, body=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{MGMT}/api/am/admin/v4/throttling/policies/subscription{path}", data=data,
                                 method=method, headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx) as r:
        return json.load(r)


def set_tier(count, unit):
    """The Unauthenticated tier to `count` requests per 1 `unit`; waits for the change feed."""
    tier = next(p for p in admin("GET", "")["list"] if p["policyName"] == "Unauthenticated")
    tier["defaultLimit"]["requestCount"].update(requestCount=count, timeUnit=unit, unitTime=1)
    admin("PUT", f"/{tier['policyId']}", tier)
    # Policy changes reach every gateway within a second (tested); leave two.
    time.sleep(2)


class Gateway:
    """One keep-alive connection to a gateway."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def get(self, client_ip):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request("GET", PATH, headers={"X-Forwarded-For": client_ip})
                r = self.conn.getresponse()
                r.read()
                return r.status
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 1:
                    return 0
        return 0


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def decision_latency():
    """Per trial (a fresh client address): LIMIT requests at node 1, the last one crossing the
    limit; then node 2 is asked until it refuses. Node 2 has counted nothing of that key, so only
    a decision from a Traffic Manager refuses there. The time runs from sending the crossing
    request to the refusal at node 2 (both round trips included: an upper bound)."""
    limit = 5
    set_tier(limit, "hour")
    g1, g2 = Gateway(GW1), Gateway(GW2)
    latencies, extra = [], []
    for trial in range(TRIALS):
        ip = f"10.1.{trial // 250}.{trial % 250 + 1}"
        for _ in range(limit - 1):
            assert g1.get(ip) == 200, "a request under the limit was refused"
        t0 = time.perf_counter()
        assert g1.get(ip) == 200, "the crossing request was refused"
        admitted_at_2 = 0
        while True:
            status = g2.get(ip)
            if status == 429:
                break
            assert status == 200, f"node 2 answered {status}"
            admitted_at_2 += 1
            if time.perf_counter() - t0 > 5:
                raise SystemExit("no decision reached node 2 within 5 s")
        latencies.append((time.perf_counter() - t0) * 1000)
        extra.append(admitted_at_2)
    emit("latency_trials", len(latencies))
    emit("latency_p50_ms", f"{pct(latencies, 50):.2f}")
    emit("latency_p99_ms", f"{pct(latencies, 99):.2f}")
    emit("latency_max_ms", f"{max(latencies):.2f}")
    emit("latency_admitted_at_node2_mean", f"{statistics.mean(extra):.2f}")


def oversubscribed(limit, unit, window_s, windows, prefix):
    """10x the limit, offered evenly to both gateways by four paced senders for `windows` whole
    windows aligned to the epoch. No request is sent within 10 ms of a window's edge, so each
    one's window is the one it was sent in. Returns admitted per window."""
    set_tier(limit, unit)
    rate = 10 * limit / window_s  # requests per second, all senders
    senders = 4
    interval = senders / rate
    now = time.time()
    start = (int(now // window_s) + 1) * window_s
    end = start + windows * window_s
    log(f"  {unit} windows: {rate:.0f} req/s offered from {time.strftime('%H:%M:%S', time.localtime(start))} "
        f"for {windows * window_s} s")
    results = [[] for _ in range(senders)]

    def run(index):
        gw = Gateway(GW1 if index % 2 == 0 else GW2)
        ip = f"10.{prefix}.0.1"  # one client address for all senders: one key
        t = start + index * interval / senders
        while t < end:
            delay = t - time.time()
            if delay > 0:
                time.sleep(delay)
            offset = t % window_s
            if 0.010 <= offset <= window_s - 0.010:
                sent = time.time()
                results[index].append((int(sent // window_s), gw.get(ip)))
            t += interval

    threads = [threading.Thread(target=run, args=(i,)) for i in range(senders)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    per_window = {}
    offered = 0
    for rows in results:
        for window, status in rows:
            offered += 1
            per_window.setdefault(window, 0)
            if status == 200:
                per_window[window] += 1
            elif status != 429:
                raise SystemExit(f"unexpected status {status}")
    admitted = [per_window[w] for w in sorted(per_window)]
    return admitted, offered / (windows * window_s)


def overshoot():
    for unit, window_s, windows, limit, prefix in (("sec", 1, SECOND_WINDOWS, 50, 2), ("min", 60, 1, 300, 3)):
        admitted, offered_rate = oversubscribed(limit, unit, window_s, windows, prefix)
        worst = max(admitted)
        emit(f"overshoot_{unit}_limit", limit)
        emit(f"overshoot_{unit}_offered_per_s", f"{offered_rate:.0f}")
        emit(f"overshoot_{unit}_admitted_per_window", ",".join(map(str, admitted)))
        emit(f"overshoot_{unit}_worst_pct", f"{(worst - limit) * 100 / limit:.1f}")
        emit(f"overshoot_{unit}_mean_pct", f"{(statistics.mean(admitted) - limit) * 100 / limit:.1f}")


def tm_down():
    """Node 2, and its Traffic Manager with it, killed (SIGKILL): requests at node 1 before and
    right after, timed."""
    set_tier(2_000_000_000, "min")
    g1 = Gateway(GW1)

    def timed(n, ip):
        times, errors = [], 0
        for _ in range(n):
            t = time.perf_counter()
            if g1.get(ip) != 200:
                errors += 1
            times.append((time.perf_counter() - t) * 1000)
        return times, errors

    before, _ = timed(300, "10.4.0.1")
    os.kill(int(NODE2_PID), signal.SIGKILL)
    killed = time.perf_counter()
    after, errors = timed(300, "10.4.0.2")
    span = (time.perf_counter() - killed) * 1000
    emit("tm_down_before_p50_ms", f"{pct(before, 50):.2f}")
    emit("tm_down_before_p99_ms", f"{pct(before, 99):.2f}")
    emit("tm_down_after_first_ms", f"{after[0]:.2f}")
    emit("tm_down_after_p50_ms", f"{pct(after, 50):.2f}")
    emit("tm_down_after_p99_ms", f"{pct(after, 99):.2f}")
    emit("tm_down_after_max_ms", f"{max(after):.2f}")
    emit("tm_down_after_requests", len(after))
    emit("tm_down_after_errors", errors)
    emit("tm_down_after_span_ms", f"{span:.0f}")


log("decision latency")
decision_latency()
log("overshoot at 10x")
overshoot()
log("a traffic manager down")
tm_down()
