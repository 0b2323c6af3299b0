#!/usr/bin/env python3
"""End-to-end load test of `consentry serve` on loopback, bounded in time.

A realistic mix runs at once for DURATION seconds: ingest from 3 xAPI sources, 20
analytics clients reading through the gateway, students changing their choice (all with
wrk, scripts in scripts/load/), and mentors opening and deciding proposals (HTTP from
this script). Afterwards it checks the store: every acknowledged write is there, nothing
more (no lost writes), and the audit chain verifies. It reports throughput, p50/p95/p99
latency per endpoint, errors (which must be zero) and the server's peak memory.

    scripts/load.sh sqlite|postgres [DURATION] [SCALE]

PostgreSQL: LOAD_DATABASE_URL names an empty database (scripts/load.sh starts
a throwaway cluster when it is not set).
"""

import base64
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "consentry")
SCRIPTS = os.path.join(ROOT, "scripts", "load")


def call(base, method, path, token=None, body=None, basic=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if basic:
        request.add_header("Authorization", "Basic " + base64.b64encode(basic.encode()).decode())
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return response.status, (json.loads(text) if text else None)


def token(base, sub):
    return call(base, "POST", "/api/v1/demo/tokens", body={"sub": sub})[1]["access_token"]


def echo_errors(lines):
    """Shows the server's warnings and errors as they come; the rest of its log is dropped."""
    for line in lines:
        if '"level":"WARN"' in line or '"level":"ERROR"' in line:
            print("server:", line.strip(), file=sys.stderr)


def start(store, data_dir, database_url, scale):
    env = dict(os.environ, CONSENTRY_DEMO_SCALE=str(scale))
    args = [BINARY, "serve", "--demo", "--data-dir", data_dir, "--addr", "127.0.0.1:0", "--log-format", "json"]
    if store == "postgres":
        args += ["--database-url", database_url]
    server = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in server.stderr:
        seen.append(line)
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        address = entry.get("fields", {}).get("addr")
        if address:
            threading.Thread(target=echo_errors, args=(server.stderr,), daemon=True).start()
            return server, "http://" + address
    raise SystemExit("the server did not start:\n" + "".join(seen[-20:]))


def peak_memory_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def wrk(script, base, threads, connections, duration, args):
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
               "-s", os.path.join(SCRIPTS, script), base, "--"] + args
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def report_of(process):
    output = process.communicate()[0]
    for line in output.splitlines():
        if line.startswith("refused:"):
            print(line, file=sys.stderr)
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("wrk gave no report:\n" + output)


class Counts:
    """What the store holds, by table, through the store's own client."""

    def __init__(self, store, data_dir, database_url):
        self.store, self.data_dir, self.database_url = store, data_dir, database_url

    def query(self, sql):
        if self.store == "sqlite":
            connection = sqlite3.connect(os.path.join(self.data_dir, "consentry.db"))
            try:
                return connection.execute(sql).fetchone()[0]
            finally:
                connection.close()
        output = subprocess.run(["psql", self.database_url, "-tAc", sql], check=True, capture_output=True, text=True)
        return int(output.stdout.strip() or 0)

    def snapshot(self):
        return {
            "statements": self.query("SELECT COUNT(*) FROM records WHERE statement_id IS NOT NULL"),
            "consent_records": self.query("SELECT COUNT(*) FROM consent_records"),
            "decided_proposals": self.query("SELECT COUNT(*) FROM proposals WHERE status <> 'pending' AND status <> 'expired'"),
            "disclosure_reads": self.query("SELECT COUNT(*) FROM gateway_reads WHERE client_id NOT LIKE 'mentor%'"),
        }


def mentors_deciding(base, mentors, stop, results):
    """Mentors open each pending proposal (explanation first) and approve it."""
    for mentor in mentors:
        bearer = token(base, mentor)
        for proposal in call(base, "GET", "/api/v1/proposals", token=bearer)[1]:
            if stop.is_set():
                return
            if proposal["status"] != "pending":
                continue
            for method, path, body in [("GET", f"/api/v1/proposals/{proposal['id']}", None),
                                       ("POST", f"/api/v1/proposals/{proposal['id']}/decision", {"decision": "approve"})]:
                started = time.perf_counter()
                try:
                    status = call(base, method, path, token=bearer, body=body)[0]
                except urllib.error.HTTPError as error:
                    status = error.code
                results.append((method, (time.perf_counter() - started) * 1000, status))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


def main():
    store = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    scale = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    database_url = os.environ.get("LOAD_DATABASE_URL", "")
    data_dir = tempfile.mkdtemp(prefix="consentry-load-")
    server, base = start(store, data_dir, database_url, scale)
    try:
        officer = token(base, "po1")
        # Three xAPI sources: the demo LMS and two more registered now.
        sources = ["Basic " + base64.b64encode(b"demo-lms:demo-lms-secret").decode()]
        for number in (2, 3):
            issued = call(base, "POST", "/api/v1/sources", token=officer,
                          body={"id": f"load-lms-{number}", "name": f"Load LMS {number}", "kinds": ["xapi"]})[1]
            sources.append("Basic " + base64.b64encode(f"load-lms-{number}:{issued['secret']}".encode()).decode())
        # Twenty analytics clients for the personal dashboard.
        clients = ["Basic " + base64.b64encode(b"demo-dashboard:demo-dashboard-secret").decode()]
        for number in range(2, 21):
            issued = call(base, "POST", "/api/v1/clients", token=officer, body={
                "id": f"load-tool-{number:02}", "name": f"Load tool {number}", "organisation": "Load B.V.",
                "contact": "load@example.org", "purposes": ["personal-dashboard"]})[1]
            clients.append("Basic " + base64.b64encode(f"load-tool-{number:02}:{issued['secret']}".encode()).decode())
        # Students who have not objected, so every toggle is a valid change.
        students, tokens = 0, []
        for number in range(1, 400):
            login = f"s{number:04}"
            try:
                bearer = token(base, login)
            except urllib.error.HTTPError:
                break
            students = number
            mine = call(base, "GET", "/api/v1/me/purposes", token=bearer)[1]
            if len(tokens) < 40 and any(p["id"] == "personal-dashboard" and p["state"] == "not_objected" for p in mine):
                tokens.append(bearer)
        call(base, "POST", "/api/v1/analytics/runs", token=officer,
             body={"since": "2026-02-02T00:00:00Z", "until": "2026-06-29T00:00:00Z"})
        mentors = [f"mentor{n:02}" for n in range(1, 11)]

        counts = Counts(store, data_dir, database_url)
        before = counts.snapshot()
        stop, decisions = threading.Event(), []
        runs = {
            "ingest": wrk("ingest.lua", base, 3, 3, duration, [",".join(sources), str(students)]),
            "read": wrk("read.lua", base, 2, 20, duration, [",".join(clients)]),
            "consent": wrk("consent.lua", base, 4, 4, duration, [",".join(tokens), "4"]),
        }
        deciding = threading.Thread(target=mentors_deciding, args=(base, mentors, stop, decisions))
        deciding.start()
        reports = {name: report_of(process) for name, process in runs.items()}
        stop.set()
        deciding.join()
        peak = peak_memory_kib(server.pid)
        after = counts.snapshot()
        verified = call(base, "GET", "/api/v1/audit/verify", token=officer)[1]
    finally:
        server.terminate()
        server.wait()

    for method in ("GET", "POST"):
        times = [ms for m, ms, _ in decisions if m == method]
        name = "GET /api/v1/proposals/{id} (open)" if method == "GET" else "POST /api/v1/proposals/{id}/decision"
        reports["decide-" + method] = {
            "endpoint": name, "requests": len(times), "errors": sum(1 for m, _, s in decisions if m == method and s >= 400),
            "seconds": duration, "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95),
            "p99_ms": percentile(times, 99), "max_ms": max(times, default=0.0)}

    ok_ingest = reports["ingest"]["requests"] - reports["ingest"]["errors"]
    ok_consent = reports["consent"]["requests"] - reports["consent"]["errors"]
    ok_decisions = reports["decide-POST"]["requests"] - reports["decide-POST"]["errors"]
    ok_reads = reports["read"]["requests"] - reports["read"]["errors"]
    expected = {"statements": ok_ingest * 10, "consent_records": ok_consent, "decided_proposals": ok_decisions,
                "disclosure_reads": ok_reads}
    stored = {key: after[key] - before[key] for key in expected}
    # wrk stops counting at the deadline while each connection may have one request in
    # flight; the server finishes those, so the store may hold up to that many more.
    in_flight = {"statements": 3 * 10, "consent_records": 4, "decided_proposals": 0, "disclosure_reads": 20}
    lost = {key: expected[key] - stored[key] for key in expected if stored[key] < expected[key]}
    unexplained = {key: stored[key] - expected[key] for key in expected if stored[key] - expected[key] > in_flight[key]}

    print(f"\nConsentry load test: {store}, {duration} s, demo scale {scale} ({students} students)\n")
    print(f"| endpoint | requests | per second | p50 ms | p95 ms | p99 ms | errors |")
    print(f"| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for report in reports.values():
        rate = report["requests"] / report["seconds"] if report["seconds"] else 0
        print(f"| {report['endpoint']} | {report['requests']} | {rate:.1f} | {report['p50_ms']:.1f} | "
              f"{report['p95_ms']:.1f} | {report['p99_ms']:.1f} | {report['errors']} |")
    print("\nwrites acknowledged / stored (the difference: requests in flight at the deadline): "
          + ", ".join(f"{k} {expected[k]} / {stored[k]}" for k in expected))
    for report in reports.values():
        if report["errors"]:
            print(f"errors of {report['endpoint']}: {json.dumps({k: v for k, v in report.items() if k.endswith(('errors', 'timeouts'))})}")
    print(f"audit chain: valid={verified['valid']}, {verified['events']} events")
    print(f"peak memory of the server: {peak / 1024:.0f} MiB")
    errors = sum(report["errors"] for report in reports.values())
    failed = errors or lost or unexplained or not verified["valid"]
    print("RESULT: " + ("FAILED" if failed else "ok: zero errors, zero lost writes, chain verifies"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
