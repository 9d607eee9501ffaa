# SPDX-License-Identifier: Apache-2.0
"""ci/bench-ab's driver: the bench session (connect, greeting, EHLO, STARTTLS with verification,
EHLO, QUIT) in load mode at concurrency 1 and 64, by build A and build B in turn, against one
server each time. Figures come from this run only."""

import json, os, resource, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from session import write_session  # noqa: E402

a, b, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ca = os.path.join(root, "fixtures/certs/ca.pem")
work = tempfile.mkdtemp(prefix="parley-ab-")
counts = {1: 2000, 64: 4000}


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def scenario(host, port, name):
    return write_session(os.path.join(work, f"session-{port}.yaml"), host, port, name, ca)


def load(parley, path, concurrency):
    report = os.path.join(work, "load.json")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([parley, "run", "--repeat", str(counts[concurrency]), "--concurrency", str(concurrency), "--json", report, path],
                   stdout=subprocess.DEVNULL, preexec_fn=raise_nofile, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.load(open(report))["load"]
    errors = sum(figures["errors"].values())
    # The client's CPU time per session (user + system, start-up included), in microseconds: less
    # sensitive than throughput to what else the machine does.
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / figures["sessions"] * 1e6
    return figures["sessions_per_second"], figures["session"]["p50_ms"], figures["session"]["p99_ms"], cpu, errors


def measure(target, host, port, name):
    path = scenario(host, port, name)
    results = {(build, c): [] for build in "AB" for c in counts}
    for round_number in range(rounds):
        order = [("A", a), ("B", b)] if round_number % 2 == 0 else [("B", b), ("A", a)]
        for concurrency in counts:
            for label, parley in order:
                rate, p50, p99, cpu, errors = load(parley, path, concurrency)
                results[(label, concurrency)].append((rate, p50, p99, cpu))
                print(f"{target}  round {round_number + 1}  c{concurrency:<2}  {label}: {rate:8.1f} sessions/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                      f"  CPU {cpu:6.0f} µs/session"
                      + (f"  ({errors} errors)" if errors else ""), flush=True)
    print()
    print(f"| {target} | conc | A sessions/s | B sessions/s | B/A | A p50 / p99 ms | B p50 / p99 ms | A CPU µs | B CPU µs | B/A CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for concurrency in counts:
        med = {label: [statistics.median(x[i] for x in results[(label, concurrency)]) for i in range(4)] for label in "AB"}
        print(f"| medians of {rounds} | {concurrency} | {med['A'][0]:.1f} | {med['B'][0]:.1f} | {med['B'][0] / med['A'][0]:.3f} | "
              f"{med['A'][1]:.2f} / {med['A'][2]:.2f} | {med['B'][1]:.2f} / {med['B'][2]:.2f} | "
              f"{med['A'][3]:.0f} | {med['B'][3]:.0f} | {med['B'][3] / med['A'][3]:.3f} |")
    print()


server = subprocess.Popen([b, "serve", "smtp", "--port", "0", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          preexec_fn=raise_nofile, text=True)
try:
    port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
    measure("fake SMTP (B's parley serve)", "127.0.0.1", port, "localhost")
finally:
    server.terminate()
    server.wait()
status = subprocess.run([os.path.join(root, "ci/realservers"), "status"], capture_output=True, text=True)
if status.returncode == 0:
    variables = dict(line.split("=", 1) for line in subprocess.run([os.path.join(root, "ci/realservers"), "vars"],
                                                                   capture_output=True, text=True).stdout.split())
    measure("Postfix (ci/realservers)", variables["SMTP_HOST"], int(variables["SMTP_PORT"]), "mail.test")
else:
    print("Postfix: not measured (ci/realservers is not up)")
