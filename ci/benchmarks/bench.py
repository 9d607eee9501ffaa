# SPDX-License-Identifier: Apache-2.0
"""ci/bench's driver. Every figure comes from this one run, every ratio compares two figures of
it, and every row names the server it was measured against (docs/performance.md):

- one SMTP STARTTLS session (connect, greeting, EHLO, STARTTLS, handshake with verification,
  EHLO, QUIT) by Parley's load mode, the C GnuTLS client (ci/benchmarks/smtp-starttls-client.c)
  and Python's smtplib, against `parley serve smtp` and, when ci/realservers runs, Postfix;
  process CPU per session (user + system of the whole process, start-up included);
- the CPU `parley serve` and Postfix spend per session with the same client;
- one expect over 1 GiB, plain and over TLS, beside C readers (ci/benchmarks/flood-reader.c);
- the start-up of `parley run` on a trivial scenario; 10,000 and 19,000 idle sessions;
- the domain suite over many domains of ci/domainworld; with --soak, 30 minutes of load mode
  against Postfix."""

import json, os, re, resource, shutil, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from session import write_session  # noqa: E402

parley = sys.argv[1]
args = sys.argv[2:]
short = "--short" in args
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ca = os.path.join(root, "fixtures/certs/ca.pem")
work = tempfile.mkdtemp(prefix="parley-bench-")
counts = dict(c1=100 if short else 1000, c64=200 if short else 2000, rounds=1 if short else 3, smtplib=100 if short else 1000, swaks=5 if short else 30,
              emacs=5 if short else 30, server=400 if short else 4000, idle=1000 if short else 10000,
              idle_most=2000 if short else 19000, flood=64 << 20 if short else 1 << 30, flood_rounds=1 if short else 3,
              startup=10 if short else 30, domains_few=10 if short else 100, domains_many=30 if short else 1000)
soak_seconds = int(os.environ.get("PARLEY_SOAK_SECONDS", "1800"))
tick = os.sysconf("SC_CLK_TCK")
rows = []      # one per client run: the table
checks = []    # (what, verdict, detail): verdict True, False or None (not measured)
extras = []    # other figures, one line each
broken = []    # parts that did not work: the exit status


def say(text):
    print(f"== {text}", file=sys.stderr, flush=True)


def check(what, ok, detail):
    checks.append((what, ok, detail))


def raise_nofile():
    """The soft limit on open files up to the hard one (20,000 on these machines)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20), hard))
    except ValueError:
        pass


class Measured:
    """A finished process: its output, exit status, CPU seconds, peak RSS (KiB) and wall time."""

    def __init__(self, command, timeout=None, env=None, sample=None):
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        began = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, preexec_fn=raise_nofile, env=env)
        self.samples = []
        sampled = began - (sample or 0)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG if sample else 0)
            if pid:
                break
            if time.monotonic() - sampled >= sample:
                sampled = time.monotonic()
                self.samples.append((sampled - began, rss_kib(process.pid)))
            time.sleep(0.2)
        self.wall = time.monotonic() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        self.status = process.returncode
        self.cpu = usage.ru_utime + usage.ru_stime
        self.rss = usage.ru_maxrss
        out.seek(0)
        err.seek(0)
        self.stdout = out.read().decode(errors="replace")
        self.stderr = err.read().decode(errors="replace")


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_cpu(pid, children=False):
    """CPU seconds of a running process (and of its children it has waited for)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / tick


def tree_cpu(master):
    """CPU seconds of Postfix: its master, the master's children alive now, and the children it
    has reaped (an smtpd ends after 100 sessions; its time then counts in the master's)."""
    total = process_cpu(master, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    total += process_cpu(int(entry), children=True)
            except OSError:
                pass
    return total


def serve(*extra):
    """Starts `parley serve smtp` as its own process; returns (process, port)."""
    # --quiet: the server's per-line log would cost it CPU that the clients then share.
    process = subprocess.Popen([parley, "serve", "smtp", "--port", "0", "--quiet", "--max-connections", "30000", *extra], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, preexec_fn=raise_nofile, text=True)
    line = process.stdout.readline()
    return process, int(line.strip().rsplit(":", 1)[1])


def stop(process):
    process.terminate()
    process.wait()


def row(server, client, concurrency, sessions, seconds, p50=None, p99=None, errors=0, cpu=None):
    rows.append(dict(server=server, client=client, concurrency=concurrency, sessions=sessions,
                     rate=sessions / seconds if seconds else 0, p50=p50, p99=p99, errors=errors,
                     cpu_ms=cpu * 1000 / sessions if cpu is not None and sessions else None))
    if errors:
        broken.append(f"{server}: {client} at concurrency {concurrency}: {errors} failed sessions")
    return rows[-1]


def percentile(values, p):
    values = sorted(values)
    return values[max(0, int(round(p / 100 * len(values) + 0.5)) - 1)] if values else None


# --- the clients ------------------------------------------------------------------------------

def parley_load(server, host, port, name, concurrency, sessions, extra=(), label="Parley load mode"):
    report = os.path.join(work, "load.json")
    path = write_session(os.path.join(work, f"session-{port}.yaml"), host, port, name, ca)
    run = Measured([parley, "run", "--repeat", str(sessions), "--concurrency", str(concurrency), "--json", report, *extra, path])
    try:
        load = json.load(open(report))["load"]
    except (OSError, ValueError):
        broken.append(f"{server}: parley load mode did not write its figures (exit {run.status}): {run.stdout[-500:]}")
        return None
    os.remove(report)
    session = load["session"] or {}
    result = row(server, label, concurrency, load["sessions"], load["wall_seconds"], session.get("p50_ms"), session.get("p99_ms"),
                 sum(load["errors"].values()), run.cpu)
    result["rss"] = run.rss
    result["load"] = load
    return result


def c_client(server, host, port, name, threads, sessions, binary, quickack=False):
    run = Measured([binary, host, str(port), ca, name, str(sessions), str(threads)] + (["quickack"] if quickack else []))
    m = dict(kv.split("=") for kv in run.stdout.split())
    return row(server, "C + GnuTLS" + (" + TCP_QUICKACK" if quickack else ""), threads, int(m["sessions"]), float(m["seconds"]),
               float(m["p50_ms"]), float(m["p99_ms"]), int(m["errors"]), run.cpu)


def smtplib_run(server, host, port, name, sessions):
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
    run = Measured(["/usr/bin/python3", "-c", code])
    out = json.loads(run.stdout)
    return row(server, "Python smtplib (one process)", 1, sessions, out["seconds"], statistics.median(out["times"]),
               percentile(out["times"], 99), out["errors"], run.cpu)


def swaks(server, host, port, sessions):
    times, errors, start = [], 0, time.monotonic()
    for _ in range(sessions):
        t = time.monotonic()
        # swaks 20201014 (Debian 12) verifies the host it connects to (the certificates name
        # 127.0.0.1 too); it has no --tls-verify-target yet.
        r = subprocess.run(["swaks", "--server", f"{host}:{port}", "--tls", "--tls-verify", "--tls-ca-path", ca,
                            "--quit-after", "EHLO", "--helo", "bench.test", "--silent", "3"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        errors += r.returncode != 0
        times.append((time.monotonic() - t) * 1000)
    row(server, "swaks (a process per session)", 1, sessions, time.monotonic() - start, statistics.median(times),
        percentile(times, 99), errors)


def emacs(server, host, port, name, sessions):
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
    row(server, "Emacs 28 open-network-stream", 1, sessions, float(seconds), errors=int(errors))


def interleaved(runs):
    """Runs each of `runs` (functions that add one row) `rounds` times, alternating, and keeps
    one row each: sessions summed, the rest the median of the rounds. Alternating round by round
    lets the machine's drift fall on every client alike."""
    rounds = counts["rounds"]
    results = [[] for _ in runs]
    for _ in range(rounds):
        for index, run in enumerate(runs):
            run()
            results[index].append(rows.pop())
    for measured in results:
        merged = dict(measured[0])
        merged["sessions"] = sum(r["sessions"] for r in measured)
        merged["errors"] = sum(r["errors"] for r in measured)
        for key in ("rate", "p50", "p99", "cpu_ms"):
            values = [r[key] for r in measured if r[key] is not None]
            merged[key] = statistics.median(values) if values else None
        merged["rounds"] = len(measured)
        rows.append(merged)


def run_clients(server, host, port, name, binary, server_cpu):
    """The session by each client against one server, Parley and the C client alternating round
    by round; returns the CPU the server spent per session of the C client (with quick ACKs)
    at concurrency 64."""
    say(f"clients against {server}")
    for concurrency, sessions in ((1, counts["c1"]), (64, counts["c64"])):
        interleaved([lambda: parley_load(server, host, port, name, concurrency, sessions),
                     lambda: c_client(server, host, port, name, concurrency, sessions, binary),
                     lambda: c_client(server, host, port, name, concurrency, sessions, binary, quickack=True)])
    before = server_cpu()
    measured = c_client(server, host, port, name, 64, counts["server"], binary, quickack=True)
    rows.pop()  # measured for the server's CPU only
    spent = server_cpu() - before
    smtplib_run(server, host, port, name, counts["smtplib"])
    swaks(server, host, port, counts["swaks"])
    if "--emacs" in args:
        emacs(server, host, port, name, counts["emacs"])
    return spent * 1000 / measured["sessions"]


def find(server, client, concurrency):
    return next((r for r in rows if r["server"] == server and r["client"] == client and r["concurrency"] == concurrency), None)


def client_targets(server):
    """Issue #19's client targets against one server: CPU per session at 1 and 64 beside the
    cheaper C variant, throughput at 64 beside the faster one."""
    for concurrency in (1, 64):
        mine = find(server, "Parley load mode", concurrency)
        limits = [r for r in (find(server, "C + GnuTLS", concurrency), find(server, "C + GnuTLS + TCP_QUICKACK", concurrency)) if r]
        if not mine or not limits:
            continue
        cheapest = min(limits, key=lambda r: r["cpu_ms"])
        ratio = mine["cpu_ms"] / cheapest["cpu_ms"]
        check(f"{server}: client CPU per STARTTLS session at concurrency {concurrency} <= 1.10 x the C GnuTLS client's",
              ratio <= 1.10, f"{ratio:.2f} x ({mine['cpu_ms']:.3f} vs {cheapest['cpu_ms']:.3f} ms, {cheapest['client']}; start-up included)")
        if concurrency == 64:
            fastest = max(limits, key=lambda r: r["rate"])
            share = mine["rate"] / fastest["rate"]
            check(f"{server}: throughput at concurrency 64 >= 95% of the C GnuTLS client's", share >= 0.95,
                  f"{share * 100:.0f}% ({mine['rate']:.0f} vs {fastest['rate']:.0f} sessions/s, {fastest['client']})")


# --- the bounds ------------------------------------------------------------------------------

def startup(port):
    say("start-up of parley run")
    trivial = os.path.join(work, "trivial.yaml")
    open(trivial, "w").write(f"name: trivial\nsteps:\n  - connect: {{host: 127.0.0.1, port: {port}}}\n  - expect: '^220 '\n")
    runs = [Measured([parley, "run", "--jobs", "1", trivial]) for _ in range(counts["startup"])]
    if any(r.status for r in runs):
        broken.append("a trivial parley run failed")
    wall = statistics.median(r.wall for r in runs) * 1000
    rss = statistics.median(r.rss for r in runs) / 1024
    check("parley run of a trivial scenario <= 10 ms wall (median, process start included)", wall <= 10,
          f"{wall:.1f} ms (median of {len(runs)}, against parley serve)")
    check("parley run of a trivial scenario <= 16 MiB peak RSS", rss <= 16, f"{rss:.1f} MiB (median of {len(runs)})")


def idle(port):
    """Idle sessions in one process: connect, greeting, then wait 3 s."""
    path = os.path.join(work, "idle.yaml")
    open(path, "w").write(f"name: idle\ntimeouts: {{connect: 60s, expect: 60s}}\nsteps:\n  - connect: {{host: 127.0.0.1, port: {port}}}\n"
                          "  - expect: '^220 '\n  - sleep: 3s\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for n, rss_bound in ((counts["idle"], 200 * counts["idle"] / 10000), (counts["idle_most"], None)):
        if hard != resource.RLIM_INFINITY and n > hard - 200:
            check(f"{n} idle sessions", None, f"the open-file limit ({hard}) allows {hard - 200}")
            continue
        say(f"{n} idle sessions")
        run = Measured([parley, "run", "--repeat", str(n), "--concurrency", str(n), path])
        passed = re.search(r"(\d+) passed", run.stdout)
        passed = int(passed.group(1)) if passed else 0
        if passed != n:
            broken.append(f"{n} idle sessions: {passed} passed")
        rss = run.rss / 1024
        extras.append(f"{n} concurrent idle sessions in one process (against parley serve): {passed} passed, peak RSS {rss:.1f} MiB, "
                      f"{run.rss / n:.1f} KiB a session")
        if rss_bound is not None:
            check(f"{n} idle sessions <= {rss_bound:.0f} MiB peak RSS" + ("" if n == 10000 else " (the 10,000 target scaled)"),
                  rss <= rss_bound and passed == n, f"{rss:.1f} MiB, {passed} of {n} passed")
        else:
            check(f"{n} idle sessions all passing", passed == n, f"{passed} of {n} passed, peak RSS {rss:.1f} MiB")


def flood(readers):
    """One expect over a large response, plain and over TLS, beside the C readers; the best of
    `flood_rounds` rounds each, alternating."""
    size = counts["flood"]
    for tls in (False, True):
        kind = "over TLS" if tls else "plain"
        say(f"one expect over {size >> 20} MiB, {kind}")
        server = subprocess.Popen([parley, "serve", "smtp", "--quiet", "--port", "0", "--fault", f"flood={size}"]
                                  + (["--implicit-tls"] if tls else ["--no-starttls"]),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        path = os.path.join(work, "flood.yaml")
        connect = f"{{host: 127.0.0.1, port: {port}" + (f", tls: {{ca-file: {ca}, server-name: localhost}}}}" if tls else "}")
        open(path, "w").write(f"name: flood\ntimeouts: {{expect: 600s}}\nsteps:\n  - connect: {connect}\n"
                              "  - expect: '^FLOOD-END\\r\\n'\n  - expect: '^220 '\n")
        mine, theirs = [], []
        try:
            for _ in range(counts["flood_rounds"]):
                run = Measured([parley, "run", "--jobs", "1", path])
                if "1 passed" not in run.stdout:
                    broken.append(f"the large expect {kind} did not pass: {run.stdout[-300:]}")
                mine.append(run)
                c = Measured([readers, "127.0.0.1", str(port)] + (["tls", ca, "localhost"] if tls else []))
                if c.status:
                    broken.append(f"the C reader {kind} failed: {c.stderr[-300:]}")
                theirs.append(c)
        finally:
            stop(server)
        best, cbest = min(r.wall for r in mine), min(r.wall for r in theirs)
        rss = max(r.rss for r in mine) / 1024
        share = cbest / best
        reader = "the C GnuTLS reader" if tls else "the raw C reader"
        floor = 0.80 if tls else 0.85
        extras.append(f"one expect over {size >> 20} MiB {kind}: Parley {size / best / 1e9:.2f} GB/s ({best:.3f} s), {reader} "
                      f"{size / cbest / 1e9:.2f} GB/s ({cbest:.3f} s), best of {len(mine)}; peak RSS {rss:.1f} MiB; sender: parley serve")
        check(f"expect over {size >> 20} MiB {kind} >= {floor * 100:.0f}% of {reader}", share >= floor,
              f"{share * 100:.0f}% ({best:.3f} vs {cbest:.3f} s, process start included)")
        check(f"expect over {size >> 20} MiB {kind}: peak RSS < 64 MiB", rss < 64, f"{rss:.1f} MiB")


def domains():
    """The domain suite over many healthy domains of the offline test world, a matrix run at
    --jobs 64: domains per second and peak RSS, for few and for many domains."""
    few, many = counts["domains_few"], counts["domains_many"]
    state = os.environ.get("PARLEY_DOMAINWORLD_STATE", "/tmp/parley-domainworld")
    try:
        have = int(open(os.path.join(state, "world/extra")).read())
    except (OSError, ValueError):
        have = 0
    world = os.path.join(root, "ci/domainworld")
    env = dict(os.environ, PARLEY_DOMAINWORLD_EXTRA=str(max(have, many)))
    say(f"the domain world with {env['PARLEY_DOMAINWORLD_EXTRA']} extra domains (ci/domainworld start)")
    started = subprocess.run([world, "start"], env=env, capture_output=True, text=True)
    if started.returncode:
        broken.append(f"ci/domainworld start failed: {started.stderr[-500:]}")
        return
    variables = dict(line.split("=", 1) for line in subprocess.run([world, "vars"], capture_output=True, text=True).stdout.splitlines())
    runenv = dict(os.environ, PARLEY_RESOLVER=variables["PARLEY_RESOLVER"], PARLEY_TRUST_ANCHOR=variables["PARLEY_TRUST_ANCHOR"])
    figures = {}
    for n in (few, many):
        say(f"the domain suite over {n} domains, --jobs 64")
        listing = os.path.join(work, f"domains-{n}.txt")
        open(listing, "w").write("".join(f"d{i:04d}.parley.test\n" for i in range(1, n + 1)))
        run = Measured([parley, "run", os.path.join(root, "suites/domain"), "--matrix", f"DOMAIN={listing}", "--jobs", "64",
                        "--no-color", "--var", f"CA_FILE={variables['CA_FILE']}"], env=runenv)
        summary = re.search(r"(\d+) passed, (\d+) failed", run.stdout)
        if run.status or not summary or int(summary.group(2)):
            lines = run.stdout.splitlines()
            failed = [" / ".join(line.strip() for line in lines[i:i + 4]) for i, line in enumerate(lines) if re.match(r"(FAIL|ERROR)\b", line)]
            broken.append(f"the domain suite over {n} domains did not pass (exit {run.status}, {summary.group(0) if summary else '?'}): "
                          + ("; ".join(failed[:5]) or run.stdout[-400:]))
        figures[n] = (n / run.wall, run.rss / 1024, summary.group(0) if summary else "?")
        extras.append(f"domain suite over {n} domains (ci/domainworld, --jobs 64): {n / run.wall:.1f} domains/s, {run.wall:.1f} s, "
                      f"peak RSS {run.rss / 1024:.1f} MiB, {figures[n][2]}")
    ratio = figures[many][1] / figures[few][1]
    check(f"domain suite: peak RSS over {many} domains within 20% of over {few}", ratio <= 1.20,
          f"{ratio:.2f} x ({figures[many][1]:.1f} vs {figures[few][1]:.1f} MiB; {figures[many][0]:.1f} vs {figures[few][0]:.1f} domains/s)")


def soak(host, port, name):
    """Load mode against Postfix at concurrency 64 for PARLEY_SOAK_SECONDS (1800): no error,
    RSS flat within 5% after the warm-up (the first 1/15 of the run), the last minute's p99
    within 20% of the first's."""
    say(f"soak: load mode against Postfix at concurrency 64 for {soak_seconds} s")
    report = os.path.join(work, "soak.json")
    path = write_session(os.path.join(work, "soak.yaml"), host, port, name, ca)
    run = Measured([parley, "run", "--repeat", "1000000000", "--concurrency", "64", "--duration", str(soak_seconds), "--json", report,
                    path], sample=5)
    load = json.load(open(report))["load"]
    errors = sum(load["errors"].values())
    if errors:
        broken.append(f"soak: {errors} failed sessions: {load['errors']}")
    warm = [kib for at, kib in run.samples if at >= soak_seconds / 15 and kib]
    spread = (max(warm) - min(warm)) / min(warm) if warm else float("nan")
    minutes = [m["session"] for m in load["minutes"][: max(1, soak_seconds // 60)] if m["session"]]
    first, last = minutes[0]["p99_ms"], minutes[-1]["p99_ms"]
    extras.append(f"soak against Postfix, concurrency 64, {run.wall:.0f} s: {load['sessions']} sessions, "
                  f"{load['sessions_per_second']:.1f}/s, errors {errors}; RSS after warm-up {min(warm) / 1024:.1f}–{max(warm) / 1024:.1f} MiB; "
                  f"p99 by minute {', '.join(format(m['p99_ms'], '.1f') for m in minutes)} ms")
    check("soak: no error", errors == 0, f"{errors} of {load['sessions']} sessions failed")
    check("soak: RSS flat within 5% after warm-up", spread <= 0.05,
          f"{spread * 100:.1f}% ({min(warm) / 1024:.1f}–{max(warm) / 1024:.1f} MiB over {len(warm)} samples)")
    check("soak: p99 of the last minute within 20% of the first's", abs(last - first) <= 0.2 * first,
          f"{last:.2f} vs {first:.2f} ms ({last / first:.2f} x)")


# --- the run ---------------------------------------------------------------------------------

def compile_c(name, source):
    binary = os.path.join(work, name)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gnutls"], capture_output=True, text=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", binary, os.path.join(root, "ci/benchmarks", source)] + flags + ["-lpthread"], check=True)
    return binary


def postfix():
    """(host, port, master's pid) of ci/realservers' Postfix, or None when it is not running."""
    status = subprocess.run([os.path.join(root, "ci/realservers"), "status"], capture_output=True, text=True)
    master = re.search(r"Postfix: running \((\d+)\)", status.stdout)
    if status.returncode or not master:
        return None
    variables = dict(line.split("=", 1) for line in subprocess.run([os.path.join(root, "ci/realservers"), "vars"],
                     capture_output=True, text=True).stdout.splitlines())
    return variables["SMTP_HOST"], int(variables["SMTP_PORT"]), int(master.group(1))


def main():
    client = compile_c("smtp-starttls-client", "smtp-starttls-client.c")
    readers = compile_c("flood-reader", "flood-reader.c")
    real = postfix()
    if "--soak" in args:
        if not real:
            sys.exit("ci/bench --soak: needs Postfix (ci/realservers start)")
        soak(real[0], real[1], "mail.test")
        report()
        return 1 if broken else 0
    fake, port = serve()
    server_cpu = {}
    try:
        server_cpu["parley serve"] = run_clients("parley serve", "127.0.0.1", port, "localhost", client, lambda: process_cpu(fake.pid))
        startup(port)
        idle(port)
        # Issue #14: a legitimate session stays fast with 1,000 idle connections open to the server.
        held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(1000)]
        for sock in held:
            sock.recv(200)  # each greeted
        smtplib_run("parley serve, 1,000 idle connections open", "127.0.0.1", port, "localhost", counts["smtplib"])
        for sock in held:
            sock.close()
    finally:
        stop(fake)
    # The same smtplib sessions against aiosmtpd (Python + OpenSSL), a server that does not
    # penalize Python's own client.
    venv = subprocess.run([os.path.join(root, "ci/clients/setup")], capture_output=True, text=True)
    if venv.returncode == 0:
        peer = subprocess.Popen([venv.stdout.strip(), os.path.join(root, "ci/benchmarks/aiosmtpd_server.py"),
                                 os.path.join(root, "fixtures/certs/server.pem"), os.path.join(root, "fixtures/certs/server-key.pem")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            peer_port = int(peer.stdout.readline().strip().rsplit(":", 1)[1])
            smtplib_run("aiosmtpd 1.4 (Python + OpenSSL)", "127.0.0.1", peer_port, "localhost", counts["smtplib"])
        finally:
            stop(peer)
    else:
        print(f"ci/bench: no aiosmtpd (ci/clients/setup failed): {venv.stderr.strip()}", file=sys.stderr)
    flood(readers)
    if real:
        server_cpu["Postfix"] = run_clients("Postfix 3.7 (ci/realservers)", real[0], real[1], "mail.test", client,
                                            lambda: tree_cpu(real[2]))
    domains()
    # The targets.
    for server in dict.fromkeys(r["server"] for r in rows):
        client_targets(server)
    if not real:
        check("client CPU and throughput against Postfix", None, "ci/realservers is not running")
    for server, ms in server_cpu.items():
        extras.append(f"server CPU per STARTTLS session, C + GnuTLS + TCP_QUICKACK at concurrency 64, {counts['server']} sessions: "
                      f"{server} {ms:.3f} ms")
    if "Postfix" in server_cpu:
        ratio = server_cpu["parley serve"] / server_cpu["Postfix"]
        check("parley serve CPU per STARTTLS session <= Postfix's (the same C client, this run)", ratio <= 1,
              f"{ratio:.2f} x ({server_cpu['parley serve']:.3f} vs {server_cpu['Postfix']:.3f} ms)")
    else:
        check("parley serve CPU per STARTTLS session <= Postfix's", None, "ci/realservers is not running")
    smtplib = {r["server"]: r for r in rows if r["client"] == "Python smtplib (one process)"}
    ours, peer, crowded = (smtplib.get(s) for s in ("parley serve", "aiosmtpd 1.4 (Python + OpenSSL)",
                                                     "parley serve, 1,000 idle connections open"))
    if ours and peer:
        check("smtplib median against parley serve <= against aiosmtpd", ours["p50"] <= peer["p50"],
              f"{ours['p50']:.2f} ms vs {peer['p50']:.2f} ms (p99 {ours['p99']:.2f} vs {peer['p99']:.2f} ms)")
    if ours and crowded:
        check("smtplib median with 1,000 idle connections open <= 1.5 x without", crowded["p50"] <= 1.5 * ours["p50"],
              f"{crowded['p50']:.2f} ms vs {ours['p50']:.2f} ms")
    check("a 30-minute soak against Postfix", None, "opt-in: ci/bench --soak")
    report()
    return 1 if broken else 0


def report():
    print()
    if rows:
        print(f"{'server':34} {'client':30} {'conc':>4} {'sessions':>8} {'sess/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/s':>8} {'errors':>6}")
        for r in rows:
            cells = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("p50", "p99")]
            cpu = f"{r['cpu_ms']:.3f}" if r["cpu_ms"] is not None else "-"
            print(f"{r['server'][:34]:34} {r['client'][:30]:30} {r['concurrency']:>4} {r['sessions']:>8} {r['rate']:>8.1f} "
                  f"{cells[0]:>7} {cells[1]:>7} {cpu:>8} {r['errors']:>6}")
        print("(CPU ms/s: the client process's user + system CPU per session, start-up included; Parley and the C client at"
              f" concurrency 1 and 64: {counts['rounds']} alternating rounds each, sessions summed, the rest medians of the rounds)")
        print()
    for line in extras:
        print(line)
    print()
    print("targets:")
    for what, ok, detail in checks:
        print(f"  [{'met' if ok else 'not measured' if ok is None else 'NOT MET'}] {what}: {detail}")
    for line in broken:
        print(f"ci/bench: {line}", file=sys.stderr)


status = main()
shutil.rmtree(work, ignore_errors=True)
sys.exit(status)
