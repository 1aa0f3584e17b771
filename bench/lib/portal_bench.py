"""Seeds a fresh node with APIs and measures the portals' pages (see bench/portal)."""
import concurrent.futures, html, os, re, signal, socket, subprocess, sys, tempfile, time
import requests
import urllib3

urllib3.disable_warnings()
binary, api_count, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


home = tempfile.mkdtemp(prefix="portico-portal-bench-")
password = "bench-admin-pw"
subprocess.run([binary, "init", "--home", home, "--admin-password", password], check=True, stdout=subprocess.DEVNULL)
ports = {"9443": free_port(), "8280": free_port(), "8243": free_port(), "9611": free_port()}
conf = os.path.join(home, "conf/deployment.toml")
text = open(conf).read()
for default, port in ports.items():
    text = text.replace(f"port = {default}", f"port = {port}", 1)
text = text.replace('bind_address = "0.0.0.0"', 'bind_address = "127.0.0.1"', 1)
open(conf, "w").write(text)
log = open(os.path.join(home, "logs/bench.out"), "w")
# A session of its own, as a service runs (DESIGN.md §6).
node = subprocess.Popen(["setsid", binary, "serve", "--home", home], stdout=log, stderr=log)
base = f"https://127.0.0.1:{ports['9443']}"
try:
    for _ in range(300):
        try:
            if requests.get(base + "/health/ready", verify=False, timeout=1, proxies={"https": ""}).ok:
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)
    else:
        sys.exit("node not ready: " + open(log.name).read())

    admin = requests.Session()
    admin.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=False
    admin.verify = False
    admin.auth = ("admin", password)
    P = base + "/api/am/publisher/v4"

    def seed(i):
        r = admin.post(P + "/apis", json={
            "name": f"BenchAPI{i:04d}", "context": f"/bench{i}", "version": "1.0.0",
            "description": f"API number {i} of the portal benchmark", "tags": ["bench", f"group{i % 10}"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9/"}},
            "operations": [{"target": "/items", "verb": "GET"}, {"target": "/items/{id}", "verb": "GET"}]})
        r.raise_for_status()
        api = r.json()["id"]
        admin.post(P + f"/apis/change-lifecycle?apiId={api}&action=Publish").raise_for_status()
        return api

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(seed, range(api_count)))
    print(f"seeded {len(ids)} published APIs in {time.time() - started:.1f} s")

    # Sign in the way a browser does: /publisher/login -> /oauth2/authorize -> callback.
    web = requests.Session()
    web.trust_env = False
    web.verify = False
    r = web.get(base + "/publisher/login", allow_redirects=False)
    page = web.get(base + r.headers["location"])
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    fields.update(username="admin", password=password)
    r = web.post(base + "/oauth2/authorize", data=fields, allow_redirects=False)
    r = web.get(base + r.headers["location"], allow_redirects=False)
    assert "__Host-portico-session" in web.cookies, r.text

    token = web.cookies["__Host-portico-session"]
    rest = requests.Session()
    rest.trust_env = False
    rest.verify = False
    rest.headers["Authorization"] = "Bearer " + token
    mid = ids[len(ids) // 2]
    D = base + "/api/am/devportal/v3"
    pages = [
        ("publisher API list", "/publisher", P + "/apis?limit=25&offset=0"),
        ("publisher search", "/publisher?q=BenchAPI05", P + "/apis?limit=25&query=BenchAPI05"),
        ("publisher API overview", f"/publisher/apis/{mid}", P + f"/apis/{mid}"),
        ("publisher resources", f"/publisher/apis/{mid}/resources", P + f"/apis/{mid}"),
        ("publisher lifecycle", f"/publisher/apis/{mid}/lifecycle", P + f"/apis/{mid}/revisions"),
        ("devportal catalogue", "/devportal", D + "/apis?limit=25"),
        ("devportal tag filter", "/devportal?tag=group3", D + "/apis?limit=25&query=tag:group3"),
        ("devportal API page", f"/devportal/apis/{mid}", D + f"/apis/{mid}"),
        ("devportal applications", "/devportal/applications", D + "/applications"),
        ("admin users", "/admin/users", base + "/scim2/Users"),
        ("admin throttling", "/admin/throttling", base + "/api/am/admin/v4/throttling/policies/search?query=type:all"),
        ("start page", "/", base + "/health/live"),
    ]

    def measure(session, url):
        times, size = [], 0
        for _ in range(rounds):
            t = time.perf_counter()
            r = session.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            size = len(r.content)
        times.sort()
        return times[len(times) // 2], times[int(len(times) * 0.95) - 1], size

    print(f"\n{api_count} APIs in the store; {rounds} requests per page over one keep-alive HTTPS connection")
    print(f"{'page':26} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>8} | {'REST p50':>8} {'REST p95':>8} {'p95 ratio':>9}")
    worst, heaviest = 0.0, 0
    for name, path, peer in pages:
        # Interleaved: the page, then its REST call, so both see the same machine load.
        p50, p95, size = measure(web, base + path)
        r50, r95, _ = measure(rest, peer)
        worst, heaviest = max(worst, p95), max(heaviest, size)
        print(f"{name:26} {p50:8.2f} {p95:8.2f} {size:8d} | {r50:8.2f} {r95:8.2f} {p95 / r95 if r95 else 0:9.2f}")
    print(f"\nworst page p95: {worst:.2f} ms (target < 20 ms); heaviest page: {heaviest} bytes (limit 102400)")
finally:
    node.send_signal(signal.SIGTERM)
    try:
        node.wait(timeout=20)
    except subprocess.TimeoutExpired:
        node.kill()
