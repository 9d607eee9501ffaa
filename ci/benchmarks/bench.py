# SPDX-License-Identifier: Apache-2.0
"""ci/bench's driver: one SMTP STARTTLS session (connect, greeting, EHLO, STARTTLS, handshake with
verification, EHLO, QUIT) done by each client against the same server, sequentially and
concurrently, plus the bounds of issue #7: one expect over 1 GiB, 10,000 idle sessions, and the
wall time of one `parley run`. Figures come from this run only; ratios compare them."""

import json, os, re, resource, shutil, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from session import write_session  # noqa: E402

parley = sys.argv[1]
args = sys.argv[2:]
short = "--short" in args
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ca = os.path.join(root, "fixtures/certs/ca.pem")
work = tempfile.mkdtemp(prefix="parley-bench-")
counts = dict(parley1=100 if short else 1000, parley64=200 if short else 4000, swaks=5 if short else 30,
              smtplib=100 if short else 1000, emacs=5 if short else 30, c1=100 if short else 1000,
              c64=200 if short else 4000, idle=2000 if short else 10000)
rows = []
# Each idle session holds a descriptor in the client and one in the server: stay under the hard
# limit on open files (raise_nofile lifts the soft one), and say so when that shrinks the run.
_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
if _hard != resource.RLIM_INFINITY and counts["idle"] > _hard - 200:
    print(f"ci/bench: the open-file limit ({_hard}) allows {_hard - 200} idle sessions, not {counts['idle']}", file=sys.stderr)
    counts["idle"] = _hard - 200


def row(target, client, concurrency, sessions, seconds, p50=None, p99=None, errors=0, note=""):
    rows.append(dict(target=target, client=client, concurrency=concurrency, sessions=sessions,
                     rate=sessions / seconds if seconds else 0, p50=p50, p99=p99, errors=errors, note=note))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    except ValueError:
        pass


def serve():
    """Starts `parley serve smtp` as its own process; returns (process, port)."""
    # --quiet: the server's per-line log would cost it CPU that the clients then share.
    process = subprocess.Popen([parley, "serve", "smtp", "--port", "0", "--quiet"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, preexec_fn=raise_nofile, text=True)
    line = process.stdout.readline()
    port = int(line.strip().rsplit(":", 1)[1])
    return process, port


def scenario(host, port, name, extra=""):
    return write_session(os.path.join(work, f"session-{port}.yaml"), host, port, name, ca, extra)


def parley_load(target, host, port, name, concurrency, sessions):
    report = os.path.join(work, "load.json")
    path = scenario(host, port, name)
    subprocess.run([parley, "run", "--repeat", str(sessions), "--concurrency", str(concurrency), "--json", report, path],
                   stdout=subprocess.DEVNULL, preexec_fn=raise_nofile)
    load = json.load(open(report))["load"]
    errors = sum(load["errors"].values())
    row(target, "parley load mode", concurrency, load["sessions"], load["wall_seconds"],
        load["session"]["p50_ms"] if load["session"] else None, load["session"]["p99_ms"] if load["session"] else None, errors)


def swaks(target, host, port, name, sessions):
    times = []
    start = time.monotonic()
    errors = 0
    for _ in range(sessions):
        t = time.monotonic()
        # swaks 20201014 (Debian 12) verifies the host it connects to (the certificates name
        # 127.0.0.1 too); it has no --tls-verify-target yet.
        r = subprocess.run(["swaks", "--server", f"{host}:{port}", "--tls", "--tls-verify", "--tls-ca-path", ca,
                            "--quit-after", "EHLO", "--helo", "bench.test", "--silent", "3"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        errors += r.returncode != 0
        times.append((time.monotonic() - t) * 1000)
    row(target, "swaks (a process per session)", 1, sessions, time.monotonic() - start,
        statistics.median(times), percentile(times, 99), errors)


def smtplib_run(target, host, port, name, sessions):
    code = f"""
import smtplib, ssl, time, json, sys
context = ssl.create_default_context(cafile={ca!r})
times = []; errors = 0; start = time.monotonic()
for _ in range({sessions}):
    t = time.monotonic()
    try:
        s = smtplib.SMTP({host!r}, {port}, local_hostname="bench.test", timeout=30)
        s._host = {name!r}
        s.ehlo(); s.starttls(context=context); s.ehlo(); s.quit()
    except Exception as e:
        errors += 1
    times.append((time.monotonic() - t) * 1000)
print(json.dumps(dict(seconds=time.monotonic() - start, times=times, errors=errors)))
"""
    out = json.loads(subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True).stdout)
    row(target, "Python smtplib (one process)", 1, sessions, out["seconds"], statistics.median(out["times"]),
        percentile(out["times"], 99), out["errors"])


def emacs(target, host, port, name, sessions):
    if not shutil.which("emacs"):
        return
    lisp = f"""
(progn
  (require 'gnutls)
  ;; The first session's temporary buffer holds a live process when it is killed; batch Emacs
  ;; would ask whether to kill it and read the answer from stdin.
  ;; And the network security manager saves what it learnt under ~/.emacs.d, which may not exist.
  (setq kill-buffer-query-functions nil nsm-settings-file {json.dumps(os.path.join(work, "nsm.data"))})
  (setq gnutls-trustfiles '({json.dumps(ca)}) gnutls-verify-error t network-security-level 'low)
  (let ((start (float-time)) (errors 0))
    (dotimes (_ {sessions})
      (condition-case nil
          (let* ((result (open-network-stream "bench" nil {json.dumps(host)} {port} :type 'starttls :return-list t
                          :capability-command "EHLO bench.test\\r\\n" :end-of-command "^[0-9]+ .*\\r\\n"
                          :end-of-capability "^[0-9]+ .*\\r\\n" :success "^2.*\\n"
                          :starttls-function (lambda (c) (and (string-match "STARTTLS" c) "STARTTLS\\r\\n"))))
                 (process (car result)))
            (if (not process) (setq errors (1+ errors))
              (process-send-string process "QUIT\\r\\n")
              (delete-process process)))
        (error (setq errors (1+ errors)))))
    (princ (format "%f %d\\n" (- (float-time) start) errors))))"""
    out = subprocess.run(["emacs", "--batch", "-Q", "--eval", lisp], capture_output=True, text=True)
    seconds, errors = out.stdout.split()[-2:]
    row(target, "Emacs 28 open-network-stream", 1, sessions, float(seconds), errors=int(errors))


def c_client(target, host, port, name, threads, sessions, binary, quickack=False):
    out = subprocess.run([binary, host, str(port), ca, name, str(sessions), str(threads)] + (["quickack"] if quickack else []),
                         capture_output=True, text=True).stdout
    m = dict(kv.split("=") for kv in out.split())
    row(target, "C + GnuTLS" + (" + TCP_QUICKACK" if quickack else ""), threads, int(m["sessions"]), float(m["seconds"]),
        float(m["p50_ms"]), float(m["p99_ms"]), int(m["errors"]))


def percentile(values, p):
    values = sorted(values)
    return values[max(0, int(round(p / 100 * len(values) + 0.5)) - 1)] if values else None


def run_clients(target, host, port, name, binary):
    print(f"== {target}", file=sys.stderr)
    parley_load(target, host, port, name, 1, counts["parley1"])
    parley_load(target, host, port, name, 64, counts["parley64"])
    c_client(target, host, port, name, 1, counts["c1"], binary)
    c_client(target, host, port, name, 1, counts["c1"], binary, quickack=True)
    c_client(target, host, port, name, 64, counts["c64"], binary)
    c_client(target, host, port, name, 64, counts["c64"], binary, quickack=True)
    smtplib_run(target, host, port, name, counts["smtplib"])
    swaks(target, host, port, name, counts["swaks"])
    if "--emacs" in args:
        emacs(target, host, port, name, counts["emacs"])


def main():
    binary = os.path.join(work, "smtp-starttls-client")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gnutls"], capture_output=True, text=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", binary, os.path.join(root, "ci/benchmarks/smtp-starttls-client.c")] + flags + ["-lpthread"], check=True)
    server, port = serve()
    try:
        run_clients("parley serve (fake SMTP)", "127.0.0.1", port, "localhost", binary)
        extras = {}
        bounds = {}
        # Wall time of one trivial `parley run` against the running server (process start included).
        trivial = os.path.join(work, "trivial.yaml")
        open(trivial, "w").write(f"name: trivial\nsteps:\n  - connect: {{host: 127.0.0.1, port: {port}}}\n  - expect: '^220 '\n")
        walls = []
        for _ in range(10 if short else 30):
            t = time.monotonic()
            subprocess.run([parley, "run", "--jobs", "1", trivial], stdout=subprocess.DEVNULL)
            walls.append((time.monotonic() - t) * 1000)
        extras["parley run, one trivial scenario (wall, median)"] = f"{statistics.median(walls):.1f} ms"
        bounds["parley run of one trivial scenario < 30 ms wall"] = (statistics.median(walls) < 30, f"{statistics.median(walls):.1f} ms (median of {len(walls)})")
        # Idle sessions held by one process: connect, greeting, then wait.
        idle = scenario("127.0.0.1", port, "localhost")
        open(idle, "w").write(f"name: idle\ntimeouts: {{connect: 60s, expect: 60s}}\nsteps:\n  - connect: {{host: 127.0.0.1, port: {port}}}\n  - expect: '^220 '\n  - sleep: 3s\n")
        timed = subprocess.run(["/usr/bin/time", "-v", parley, "run", "--repeat", str(counts["idle"]), "--concurrency", str(counts["idle"]), idle],
                               capture_output=True, text=True, preexec_fn=raise_nofile)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
        passed = re.search(r"(\d+) passed", timed.stdout)
        extras[f"{counts['idle']} concurrent idle sessions, peak RSS"] = (
            f"{int(rss.group(1)) / 1024:.1f} MiB ({passed.group(1) if passed else '?'} sessions passed)" if rss else "?")
        bounds[f"{counts['idle']} concurrent sessions, all passing, < 1 GiB RSS"] = (
            bool(rss and passed and int(passed.group(1)) == counts["idle"] and int(rss.group(1)) < 1 << 20),
            extras[f"{counts['idle']} concurrent idle sessions, peak RSS"])
        # A legitimate session stays fast with 1,000 idle connections open to the server.
        held = []
        for _ in range(1000):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        for sock in held:
            sock.recv(200)  # each greeted
        smtplib_run("parley serve, 1,000 idle connections open", "127.0.0.1", port, "localhost", counts["smtplib"])
        for sock in held:
            sock.close()
    finally:
        server.terminate()
        server.wait()
    # The same smtplib sessions against aiosmtpd (Python + OpenSSL), in this run: the peer a
    # local test server should not be slower than for Python's own client.
    venv = subprocess.run([os.path.join(root, "ci/clients/setup")], capture_output=True, text=True)
    if venv.returncode == 0:
        peer = subprocess.Popen([venv.stdout.strip(), os.path.join(root, "ci/benchmarks/aiosmtpd_server.py"),
                                 os.path.join(root, "fixtures/certs/server.pem"), os.path.join(root, "fixtures/certs/server-key.pem")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            peer_port = int(peer.stdout.readline().strip().rsplit(":", 1)[1])
            smtplib_run("aiosmtpd (Python + OpenSSL)", "127.0.0.1", peer_port, "localhost", counts["smtplib"])
        finally:
            peer.terminate()
            peer.wait()
    else:
        print(f"ci/bench: no aiosmtpd (ci/clients/setup failed): {venv.stderr.strip()}", file=sys.stderr)
    # One expect over a large response: the fake server's flood knob, then the marker.
    size = 64 << 20 if short else 1 << 30
    flood = subprocess.Popen([parley, "serve", "smtp", "--no-starttls", "--port", "0", "--fault", f"flood={size}"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    flood_port = int(flood.stdout.readline().strip().rsplit(":", 1)[1])
    big = os.path.join(work, "flood.yaml")
    open(big, "w").write(f"name: flood\ntimeouts: {{expect: 600s}}\nsteps:\n  - connect: {{host: 127.0.0.1, port: {flood_port}}}\n"
                         "  - expect: '^FLOOD-END\\r\\n'\n  - expect: '^220 '\n")
    t = time.monotonic()
    timed = subprocess.run(["/usr/bin/time", "-v", parley, "run", "--jobs", "1", big], capture_output=True, text=True)
    seconds = time.monotonic() - t
    flood.terminate()
    flood.wait()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
    ok = "1 passed" in timed.stdout
    extras[f"one expect over {size >> 20} MiB"] = (f"{size / seconds / 1e9:.2f} GB/s, peak RSS "
                                                 f"{int(rss.group(1)) / 1024:.1f} MiB, {'passed' if ok else 'FAILED'}"
                                                 " (the sender is parley serve, on the same 2 cores)")
    # Postfix, when ci/realservers is up.
    status = subprocess.run([os.path.join(root, "ci/realservers"), "status"], capture_output=True, text=True)
    if status.returncode == 0 and "running" in status.stdout:
        variables = dict(line.split("=", 1) for line in subprocess.run([os.path.join(root, "ci/realservers"), "vars"],
                         capture_output=True, text=True).stdout.split())
        run_clients("Postfix (ci/realservers)", variables["SMTP_HOST"], int(variables["SMTP_PORT"]), "mail.test", binary)
    bounds[f"one expect over {size >> 20} MiB: >= 1 GB/s, < 64 MiB RSS" + (" (short run: the target is for 1 GiB, where process start"
                                                                       " weighs less)" if short else "")] = (
        bool(ok and rss and size / seconds >= 1e9 and int(rss.group(1)) < 64 << 10), extras[f"one expect over {size >> 20} MiB"])
    report(extras, bounds)
    # Timing targets are reported, never enforced; what must hold is that every part worked.
    broken = [f"{r['target']}: {r['client']} at concurrency {r['concurrency']}: {r['errors']} failed sessions" for r in rows if r["errors"]]
    if not ok:
        broken.append("the large expect did not pass")
    if not (passed and int(passed.group(1)) == counts["idle"]):
        broken.append("not every idle session passed")
    for line in broken:
        print(f"ci/bench: {line}", file=sys.stderr)
    return 1 if broken else 0


def report(extras, bounds):
    print()
    print(f"{'target':28} {'client':32} {'conc':>4} {'sessions':>8} {'sess/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for r in rows:
        p50 = f"{r['p50']:.2f}" if r["p50"] is not None else "-"
        p99 = f"{r['p99']:.2f}" if r["p99"] is not None else "-"
        print(f"{r['target'][:28]:28} {r['client'][:32]:32} {r['concurrency']:>4} {r['sessions']:>8} {r['rate']:>9.1f} {p50:>8} {p99:>8} {r['errors']:>6}")
    print()
    for key, value in extras.items():
        print(f"{key}: {value}")
    print()
    # The targets of issue #7, each against each server measured, with the figures behind it.
    checks = []

    def check(what, ok, detail):
        checks.append((what, ok, detail))

    for target in dict.fromkeys(r["target"] for r in rows):
        def find(client, concurrency=1):
            return next((r for r in rows if r["target"] == target and r["client"] == client and r["concurrency"] == concurrency), None)
        mine = {c: find("parley load mode", c) for c in (1, 64)}
        if not any(mine.values()):
            continue  # a peer measured with one client only (aiosmtpd, the crowded server)
        best = max((r["rate"] for r in mine.values() if r), default=0)
        one = mine[1]
        smtplib = find("Python smtplib (one process)")
        if one and smtplib and one["p50"] and smtplib["p50"]:
            check(f"{target}: concurrency 1 median <= smtplib's", one["p50"] <= smtplib["p50"],
                  f"{one['p50']:.2f} ms vs {smtplib['p50']:.2f} ms")
        if one and one["p50"]:
            others = "; ".join(f"{r['client']}: {r['p99'] / r['p50']:.2f} x" for r in rows
                               if r["target"] == target and r["concurrency"] == 1 and r["p50"] and r["client"] != "parley load mode")
            check(f"{target}: concurrency 1 p99 < 2 x median", one["p99"] < 2 * one["p50"],
                  f"p99 {one['p99']:.2f} ms, median {one['p50']:.2f} ms ({one['p99'] / one['p50']:.2f} x; {others})")
        for label, client, factor in [("swaks", "swaks (a process per session)", 100), ("smtplib", "Python smtplib (one process)", 5),
                                      ("Emacs", "Emacs 28 open-network-stream", 50)]:
            other = find(client)
            if other and other["rate"]:
                # What the C GnuTLS client reaches against the same server bounds any client.
                limit = max((r["rate"] for r in rows if r["target"] == target and r["client"].startswith("C + GnuTLS")), default=0)
                check(f"{target}: load mode >= {factor} x {label}", best >= factor * other["rate"],
                      f"{best / other['rate']:.1f} x ({best:.0f} vs {other['rate']:.1f} sessions/s; "
                      f"the C GnuTLS client's best: {limit / other['rate']:.1f} x)")
        for concurrency in (1, 64):
            limits = [r for r in (find("C + GnuTLS", concurrency), find("C + GnuTLS + TCP_QUICKACK", concurrency)) if r]
            if limits and mine[concurrency]:
                limit = max(limits, key=lambda r: r["rate"])
                share = mine[concurrency]["rate"] / limit["rate"]
                check(f"{target}: >= 70% of the C GnuTLS client at concurrency {concurrency}", share >= 0.7,
                      f"{share * 100:.0f}% ({mine[concurrency]['rate']:.0f} vs {limit['rate']:.0f} sessions/s, {limit['client']})")
    # Issue #14: smtplib's STARTTLS session against parley serve no slower than against aiosmtpd.
    def smtplib_row(target):
        return next((r for r in rows if r["target"] == target and r["client"] == "Python smtplib (one process)"), None)
    ours, peer, crowded = (smtplib_row(t) for t in ("parley serve (fake SMTP)", "aiosmtpd (Python + OpenSSL)",
                                                     "parley serve, 1,000 idle connections open"))
    if ours and peer and ours["p50"] and peer["p50"]:
        check("smtplib median against parley serve <= against aiosmtpd", ours["p50"] <= peer["p50"],
              f"{ours['p50']:.2f} ms vs {peer['p50']:.2f} ms (p99 {ours['p99']:.2f} vs {peer['p99']:.2f} ms)")
    if ours and crowded and ours["p50"] and crowded["p50"]:
        check("smtplib median with 1,000 idle connections open <= 1.5 x without", crowded["p50"] <= 1.5 * ours["p50"],
              f"{crowded['p50']:.2f} ms vs {ours['p50']:.2f} ms")
    for what, (ok, detail) in bounds.items():
        check(what, ok, detail)
    print()
    print("targets:")
    for what, ok, detail in checks:
        print(f"  [{'met' if ok else 'NOT MET'}] {what}: {detail}")


status = main()
shutil.rmtree(work, ignore_errors=True)
sys.exit(status)
