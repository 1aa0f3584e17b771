#!/usr/bin/env python3
"""Property-based testing of Portico's REST APIs against WSO2's own OpenAPI documents.

Starts a fresh Portico node (dev mode, SQLite, free loopback ports), finds which of the
documents' operations Portico serves (an operation is served unless the node answers it with
its fallback "No resource at" 404 or with 405), and runs schemathesis on those operations with
HTTP Basic as the admin. Checks: no 5xx, responses match the document's schemas and status
codes, invalid input is refused. Every failure must be listed, with its reason, in the baseline
(security/schemathesis-baseline.yaml); a failure that is not listed fails the run, a listed one
that no longer happens is reported as stale. Prints the totals.

Usage: schemathesis_run.py --bin PORTICO --docs DIR [--max-examples N] [--workers N]
"""

import argparse
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

DOCUMENTS = [
    ("publisher", "publisher-api.yaml", "/api/am/publisher/v4"),
    ("devportal", "devportal-api.yaml", "/api/am/devportal/v3"),
    ("admin", "admin-api.yaml", "/api/am/admin/v4"),
]
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]
METHODS = ["get", "put", "post", "delete", "patch", "head", "options"]
ADMIN_PASSWORD = "schemathesis-admin-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(binary, home):
    subprocess.run(
        [binary, "init", "--home", home, "--admin-password", ADMIN_PASSWORD],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ports = {"9443": free_port(), "8280": free_port(), "8243": free_port(), "9611": free_port()}
    path = os.path.join(home, "conf", "deployment.toml")
    with open(path) as f:
        text = f.read()
    for default, port in ports.items():
        text = text.replace(f"port = {default}", f"port = {port}", 1)
    text = text.replace('bind_address = "0.0.0.0"', 'bind_address = "127.0.0.1"', 1)
    with open(path, "w") as f:
        f.write(text)
    log = open(os.path.join(home, "logs", "schemathesis-node.out"), "w")
    # Its own session: the node is stopped by its process group id at the end.
    node = subprocess.Popen([binary, "serve", "--home", home], stdout=log, stderr=log, start_new_session=True)
    base = f"https://127.0.0.1:{ports['9443']}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if node.poll() is not None:
            sys.exit(f"schemathesis: the node exited early; see {log.name}")
        try:
            status, _ = request("GET", base + "/health/ready")
            if status == 200:
                return node, base
        except OSError:
            pass
        time.sleep(0.2)
    node.kill()
    sys.exit("schemathesis: the node was not ready within 60 s")


INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def request(method, url, auth=False):
    req = urllib.request.Request(url, method=method.upper())
    if auth:
        import base64

        token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, context=INSECURE, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def served_operations(base, prefix, document):
    """(operationId, METHOD, path) of the document's operations the node routes."""
    served, unserved = [], []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            probe = re.sub(r"\{[^}]+\}", "schemathesis-probe", path)
            # Without credentials: a served operation answers 401 (or its own answer); only the
            # router's fallback says "No resource at", and a wrong method is 405.
            status, body = request(method, base + prefix + probe)
            routed = not (status == 405 or (status == 404 and b"No resource at" in body))
            entry = (operation.get("operationId", f"{method} {path}"), method.upper(), path)
            (served if routed else unserved).append(entry)
    return served, unserved


def load_baseline(path):
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    entries = data.get("deviations", [])
    for e in entries:
        for key in ("document", "operation", "check", "reason"):
            if not e.get(key):
                sys.exit(f"schemathesis: baseline entry without `{key}`: {e}")
    return entries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--docs", required=True)
    parser.add_argument("--baseline", default=os.path.join(os.path.dirname(__file__), "schemathesis-baseline.yaml"))
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10")))
    parser.add_argument("--workers", default=os.environ.get("SCHEMATHESIS_WORKERS", "2"))
    parser.add_argument("--keep", action="store_true", help="keep the node's home and the reports")
    args = parser.parse_args()

    st = shutil.which("st") or shutil.which("schemathesis")
    if not st:
        sys.exit("schemathesis: the `st` command is missing (pip install schemathesis)")
    baseline = load_baseline(args.baseline)
    work = tempfile.mkdtemp(prefix="portico-schemathesis-")
    home = os.path.join(work, "home")
    node, base = start_node(args.bin, home)
    totals = {"operations": 0, "unserved": 0, "cases": 0, "checks": 0, "failed_checks": 0, "tool_errors": 0}
    found = []
    try:
        for name, file_name, prefix in DOCUMENTS:
            doc_path = os.path.join(args.docs, file_name)
            with open(doc_path) as f:
                # BaseLoader: every scalar a string (the documents hold dates no datetime takes).
                document = yaml.load(f, Loader=yaml.BaseLoader)
            served, unserved = served_operations(base, prefix, document)
            totals["operations"] += len(served)
            totals["unserved"] += len(unserved)
            if not served:
                continue
            report = os.path.join(work, f"report-{name}")
            command = [
                st, "run", doc_path,
                "--url", base + prefix,
                "--tls-verify", "false",
                "--auth", f"admin:{ADMIN_PASSWORD}",
                "--checks", ",".join(CHECKS),
                "--max-examples", str(args.max_examples),
                "--phases", os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing"),
                "--workers", str(args.workers),
                "--seed", "20",
                "--no-shrink",
                "--request-timeout", "20",
                "--suppress-health-check", "all",
                "--warnings", "off",
                "--report", "ndjson",
                "--report-dir", report,
                "--continue-on-failure",
            ]
            for operation_id, _, _ in served:
                command += ["--include-operation-id", operation_id]
            started = time.time()
            run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            with open(os.path.join(work, f"st-{name}.log"), "w") as f:
                f.write(run.stdout)
            if not os.path.isdir(report) or not any(p.endswith(".ndjson") for p in os.listdir(report)):
                print(run.stdout[-3000:])
                sys.exit(f"schemathesis: no report for {name} (exit {run.returncode})")
            cases, checks, failures, errors = ndjson_results(report)
            totals["tool_errors"] += len(errors)
            totals["cases"] += cases
            totals["checks"] += checks
            totals["failed_checks"] += len(failures)
            for label, check in sorted(failures):
                found.append((name, label, check))
            print(
                f"schemathesis {name}: {len(served)} operations served of {len(served) + len(unserved)} "
                f"in WSO2's document, {cases} test cases, {checks} checks, {len(failures)} failing "
                f"(operation, check) pairs, {time.time() - started:.0f} s"
            )
    finally:
        os.killpg(node.pid, 15)
        node.wait(timeout=30)
    listed = {(e["document"], e["operation"], e["check"]) for e in baseline}
    unexpected = [f for f in found if f not in listed]
    stale = sorted(listed - set(found))
    print(
        f"schemathesis totals: {totals['operations']} operations ({totals['unserved']} of WSO2's not served), "
        f"{totals['cases']} test cases, {totals['checks']} checks run, {len(found)} deviations "
        f"({len(found) - len(unexpected)} in the baseline, {len(unexpected)} new), {len(stale)} stale baseline entries, "
        f"{totals['tool_errors']} operations schemathesis itself failed on"
    )
    for f in stale:
        print(f"  stale baseline entry (no longer fails): {f}")
    if args.keep:
        print(f"  reports and logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if unexpected:
        print("schemathesis: deviations not in security/schemathesis-baseline.yaml:")
        for document, label, check in unexpected:
            print(f"  - document: {document}\n    operation: {json.dumps(label)}\n    check: {check}")
        sys.exit(1)


def ndjson_results(report_dir):
    """(test cases, checks run, {(operation, check)} that failed, {operation} schemathesis itself
    failed on) from the NDJSON event stream: each finished scenario carries its recorder, with
    the cases and each check's status. A scenario that errors is schemathesis' own failure (a
    Hypothesis internal error): counted and printed, not a deviation of the node."""
    cases = checks = 0
    failures = set()
    errors = set()
    for file_name in os.listdir(report_dir):
        if not file_name.endswith(".ndjson"):
            continue
        with open(os.path.join(report_dir, file_name)) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                scenario = event.get("ScenarioFinished")
                if not isinstance(scenario, dict):
                    continue
                recorder = scenario.get("recorder", {})
                label = recorder.get("label", "?")
                cases += len(recorder.get("cases", {}))
                for entries in recorder.get("checks", {}).values():
                    for entry in entries:
                        checks += 1
                        if entry.get("status") == "failure":
                            failures.add((label, entry.get("name", "?")))
                if scenario.get("status") == "error":
                    errors.add(label)
    return cases, checks, failures, errors


if __name__ == "__main__":
    main()
