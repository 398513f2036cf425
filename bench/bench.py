#!/usr/bin/env python3
"""Benchmark for forge's log path: throughput, integrity, back-pressure and idle cost.

`make bench` runs this with the release binary:

    python3 bench/bench.py --forge .build/release/forge [--quick]

Every workload compares forge with a baseline run in the same invocation, so the ratios hold
on a shared, noisy machine even when the absolute seconds do not: a plain `producer | cat >
file` pipeline (or `cat FILE | cat > file` when forge's stdout is a pipe or relays a file),
forge relaying the same process alone (one chatty process among 999 idle ones; forge without a
`forge logs -f` client), a do-nothing static Swift binary (idle RSS) and an sh loop (starting
300 instances). Runs of forge and of its baseline are interleaved and the median is reported;
a markdown summary ends the output. The metrics workload has absolute targets instead: a
/metrics scrape with 1000 instances under 50 ms, and no CPU time or wake-up while idle.

Every line forge writes is checked: each producer's lines must all arrive, exactly once, in
order, whole, with the right prefix. Any failure is printed as it happens and makes the script
exit 1. Speed figures are only reported, never asserted: the machine is too noisy for that.

Only the Python standard library is used; the producer and the measuring wrapper are built
with the C compiler when there is one (see `Bench.build_helpers`).
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket as socketlib
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------------
# Workload sizes

LINE_BYTES = 100  # every producer line, newline included
HEAD_BYTES = 14  # "NN SSSSSSSSSS ": producer id and sequence number
FILL_BYTES = LINE_BYTES - HEAD_BYTES - 1


@dataclass(frozen=True)
class Plan:
    """How much work each workload does; --quick shrinks everything."""

    lines: int = 1_000_000  # one producer
    producers: int = 4  # the concurrent workload: `lines` split between them
    runs: int = 7  # per tool and workload (medians need >= 3)
    compare_runs: int = 1  # honcho / foreman: ~100x slower than cat, so one run says enough
    backpressure_lines: int = 300_000  # ~32 MB through a ~6 MB/s reader: ~5 s
    idle_seconds: float = 5.0
    idle_children: int = 10
    chatty_bytes: int = 500 * 2**20  # relayed per run by the one chatty process
    chatty_idle: int = 999  # idle processes beside it
    chatty_runs: int = 5  # relays per formation (alone / among the idle ones), alternating
    rss_runs: int = 5  # samples of forge's idle RSS and of the floor's
    start_instances: int = 300
    start_runs: int = 5
    secrets: int = 100  # files in the --secrets directory
    secret_every: int = 1000  # 1 line in this many holds a secret (the second secrets workload)
    metrics_instances: int = 1000  # idle processes while /metrics is scraped
    metrics_scrapes: int = 10
    metrics_idle_seconds: float = 5.0  # each idle window (before the first scrape, after the last)


QUICK = Plan(lines=100_000, runs=1, compare_runs=1, backpressure_lines=30_000, idle_seconds=1.0,
             chatty_bytes=20 * 2**20, chatty_runs=1, rss_runs=1, start_runs=1, metrics_instances=100,
             metrics_scrapes=3, metrics_idle_seconds=1.0)

TARGET_SINGLE = 1.5  # forge / cat, one producer (from the issue)
TARGET_FOUR = 2.0  # forge / cat, four producers
TARGET_PIPE = 1.5  # `forge | cat` / `cat file | cat`, one producer
TARGET_FOLLOW = 1.5  # forge / cat with and without a `forge logs -f` client attached
TARGET_SECRETS = 1.6  # forge with 100 secrets / cat
METRICS_SCRAPE_LIMIT = 0.050  # seconds for one /metrics scrape with 1000 instances
TARGET_CHATTY = 1.5  # one chatty process among the idle ones / the same process alone (wall and CPU)
RSS_OVER_FLOOR = 2 * 2**20  # forge idle with 10 children <= a do-nothing static Swift binary + this
BACKPRESSURE_RSS_LIMIT = 16 * 1024 * 1024

# --------------------------------------------------------------------------------------------
# Helper programs, written into the scratch directory

PRODUCER_C = r"""
/* producer ID COUNT [BARRIER_DIR PARTIES]
 * Writes COUNT lines of exactly 100 bytes: "NN SSSSSSSSSS <85 fill bytes>\n" where NN is ID and
 * S the sequence number from 0; the fill letter depends on both, so a cut or spliced line is
 * caught. Lines go out in blocks of 640 (64000 bytes). With a barrier, the producer then waits
 * until all PARTIES producers have written everything, so that a supervisor that stops the
 * formation when the first process exits (honcho, foreman) still gets every line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LINE = 100, HEAD = 14, PER_BLOCK = 640 };
static char block[LINE * PER_BLOCK];

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            perror("producer: write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void barrier(const char *dir, int id, int parties) {
    char path[4096];
    snprintf(path, sizeof path, "%s/done.%d", dir, id);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
    for (;;) {
        int all = 1;
        for (int i = 1; i <= parties && all; i++) {
            snprintf(path, sizeof path, "%s/done.%d", dir, i);
            all = access(path, F_OK) == 0;
        }
        if (all) return;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: producer ID COUNT [BARRIER_DIR PARTIES]\n");
        return 2;
    }
    int id = atoi(argv[1]);
    long long count = atoll(argv[2]);
    char digits[11];
    memset(digits, '0', 10);
    int fill = (id * 3) % 26; /* (seq * 7 + id * 3) % 26, kept up to date */
    size_t used = 0;
    for (long long seq = 0; seq < count; seq++) {
        char *line = block + used;
        line[0] = (char)('0' + id / 10 % 10);
        line[1] = (char)('0' + id % 10);
        line[2] = ' ';
        memcpy(line + 3, digits, 10);
        line[13] = ' ';
        memset(line + HEAD, 'a' + fill, LINE - HEAD - 1);
        line[LINE - 1] = '\n';
        used += LINE;
        if (used == sizeof block) {
            write_all(block, used);
            used = 0;
        }
        for (int i = 9; i >= 0; i--) {
            if (digits[i] != '9') { digits[i]++; break; }
            digits[i] = '0';
        }
        fill = (fill + 7) % 26;
    }
    write_all(block, used);
    if (argc >= 5 && atoi(argv[4]) > 1) barrier(argv[3], id, atoi(argv[4]));
    return 0;
}
"""

MEASURE_C = r"""
/* measure RESULT_FILE COMMAND [ARG...]
 * Runs COMMAND and writes "<wall seconds> <peak RSS KiB> <exit status> <CPU seconds>" to
 * RESULT_FILE (CPU: user + system of COMMAND and the children it waited for). The
 * peak RSS comes from wait4 on this child alone. It must be a small program: the kernel folds
 * the memory a process had when it called exec into its peak, so a child forked straight from
 * the (large) Python benchmark would report Python's size, not its own. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: measure RESULT_FILE COMMAND [ARG...]\n");
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("measure: exec");
        _exit(127);
    }
    /* A timeout stops the whole process group with SIGTERM: let the command handle it. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    int status;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) { perror("measure: wait4"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    FILE *out = fopen(argv[1], "w");
    if (!out) { perror("measure: result file"); return 1; }
    fprintf(out, "%.6f %ld %d %.6f\n", (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9,
            usage.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status),
            usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
    return fclose(out) == 0 ? 0 : 1;
}
"""

MEASURE_PY = r'''
"""Fallback for measure.c (no C compiler). Its peak RSS includes this interpreter's ~10 MB."""
import os, signal, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write("%.6f %d %d %.6f\n" % (wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status),
                                     usage.ru_utime + usage.ru_stime))
'''

PRODUCER_PY = r'''
"""Fallback producer (no C compiler): the same lines and barrier as producer.c."""
import os, sys, time
pid, count = int(sys.argv[1]), int(sys.argv[2])
fills = [bytes([97 + (s * 7 + pid * 3) % 26]) * FILL_BYTES + b"\n" for s in range(26)]
for start in range(0, count, 640):
    block = b"".join([b"%02d %010d " % (pid, s) + fills[s % 26] for s in range(start, min(count, start + 640))])
    view = memoryview(block)
    while view:
        view = view[os.write(1, view):]
if len(sys.argv) >= 5 and int(sys.argv[4]) > 1:
    directory, parties = sys.argv[3], int(sys.argv[4])
    open(os.path.join(directory, "done.%d" % pid), "w").close()
    while not all(os.path.exists(os.path.join(directory, "done.%d" % i)) for i in range(1, parties + 1)):
        time.sleep(0.001)
'''.replace("FILL_BYTES", str(FILL_BYTES))

SLOW_READER_PY = r'''
"""Slow reader: CHUNK bytes at a time, then a pause; keeps everything it read in OUT."""
import os, sys, time
out, chunk, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with open(out, "wb") as f:
    while True:
        data = os.read(0, chunk)
        if not data:
            break
        f.write(data)
        time.sleep(pause)
'''

VERIFY_C = r"""
/* verify PREFIX ID COUNT < FILE
 * Exits 0 if stdin is exactly COUNT lines of `producer ID COUNT`, each behind PREFIX (forge's
 * "name | "), and nothing else; otherwise says where it differs and exits 1. The chatty
 * workload relays hundreds of MB per run: too much to check line by line in Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LINE = 100, HEAD = 14 };

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: verify PREFIX ID COUNT < FILE\n");
        return 2;
    }
    const char *prefix = argv[1];
    size_t plen = strlen(prefix);
    int id = atoi(argv[2]);
    long long count = atoll(argv[3]);
    setvbuf(stdin, NULL, _IOFBF, 1 << 20);
    char want[LINE], digits[10];
    memset(digits, '0', 10);
    int fill = (id * 3) % 26;
    char *line = NULL;
    size_t cap = 0;
    for (long long seq = 0; seq < count; seq++) {
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            printf("only %lld of %lld lines\n", seq, count);
            return 1;
        }
        want[0] = (char)('0' + id / 10 % 10);
        want[1] = (char)('0' + id % 10);
        want[2] = ' ';
        memcpy(want + 3, digits, 10);
        want[13] = ' ';
        memset(want + HEAD, 'a' + fill, LINE - HEAD - 1);
        want[LINE - 1] = '\n';
        if ((size_t)n != plen + LINE || memcmp(line, prefix, plen) != 0 || memcmp(line + plen, want, LINE) != 0) {
            printf("line %lld of %lld differs: %.150s\n", seq, count, line);
            return 1;
        }
        for (int i = 9; i >= 0; i--) {
            if (digits[i] != '9') { digits[i]++; break; }
            digits[i] = '0';
        }
        fill = (fill + 7) % 26;
    }
    if (getline(&line, &cap, stdin) >= 0) {
        printf("more than %lld lines; the next: %.150s\n", count, line);
        return 1;
    }
    return 0;
}
"""

FLOOR_SWIFT = """\
// The RSS floor for forge: a Swift program that does nothing, built with forge's release flags.
// Written and built by bench/bench.py.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

while true { pause() }
"""

FLOOR_PACKAGE = """\
// swift-tools-version:6.0
import PackageDescription

let package = Package(name: "bench-floor", targets: [.executableTarget(name: "floor", path: "Sources")])
"""

# --------------------------------------------------------------------------------------------
# Failures


class IntegrityError(Exception):
    """A check on forge's output or behaviour failed."""


FAILURES: list[str] = []


def fail(workload: str, message: str) -> None:
    """Records a failed check and says so at once, loudly."""
    FAILURES.append(f"{workload}: {message}")
    print(f"\n!!! INTEGRITY FAILURE in {workload}: {message}\n", file=sys.stderr, flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Expected output


@functools.lru_cache(maxsize=8)
def expected_lines(pid: int, count: int) -> list[bytes]:
    """The lines producer `pid` writes, without their newline (same format as producer.c)."""
    fills = [bytes([97 + (s * 7 + pid * 3) % 26]) * FILL_BYTES for s in range(26)]
    return [b"%02d %010d " % (pid, s) + fills[s % 26] for s in range(count)]


def expected_blob(pid: int, count: int) -> bytes:
    return b"\n".join(expected_lines(pid, count)) + b"\n"


LINE_HEAD = re.compile(rb"^(\d\d) (\d{10}) ")
STATUS_LINE = re.compile(rb"^(started with pid \d+|exited with code \d+|terminated by \S+)$")


def diagnose(got: list[bytes], pid: int, count: int, want: list[bytes] | None = None) -> str:
    """Explains how one process's received lines differ from what it wrote (slow path); `want`
    replaces the producer's lines where forge changes some (redacted secrets)."""
    want = want if want is not None else expected_lines(pid, count)
    seen = bytearray(count)
    corrupt, duplicates, out_of_order, last = [], 0, 0, -1
    for index, line in enumerate(got):
        match = LINE_HEAD.match(line)
        seq = int(match.group(2)) if match and int(match.group(1)) == pid else -1
        if seq < 0 or seq >= count or line != want[seq]:
            corrupt.append((index, line))
            continue
        if seen[seq]:
            duplicates += 1
        seen[seq] = 1
        if seq < last:
            out_of_order += 1
        last = seq
    missing = [s for s in range(count) if not seen[s]]
    parts = [f"received {len(got)} of {count} lines"]
    if missing:
        runs = _ranges(missing)
        parts.append(f"{len(missing)} missing (seq {', '.join(runs[:5])}{', ...' if len(runs) > 5 else ''})")
    if duplicates:
        parts.append(f"{duplicates} duplicated")
    if out_of_order:
        parts.append(f"{out_of_order} out of order")
    if corrupt:
        index, line = corrupt[0]
        parts.append(f"{len(corrupt)} cut or mixed (first: line {index} = {line[:120]!r})")
    return "; ".join(parts)


def _ranges(numbers: list[int]) -> list[str]:
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return out


# --------------------------------------------------------------------------------------------
# Parsing a supervisor's output


@dataclass
class Parsed:
    """One supervisor's output, split per process."""

    data: dict[str, list[bytes]] = field(default_factory=dict)  # producer lines per process
    status: dict[str, list[bytes]] = field(default_factory=dict)  # "started with pid" & co
    other: int = 0  # lines of the supervisor itself ("forge |", "system |")
    errors: list[str] = field(default_factory=list)


def parse_text(blob: bytes, names: set[str], width: int | None) -> Parsed:
    """forge's text format `name<pad> | line`; with `width`, the padding is checked too."""
    parsed = Parsed(data={n: [] for n in names}, status={n: [] for n in names})
    if blob and not blob.endswith(b"\n"):
        parsed.errors.append(f"output does not end with a newline: ...{blob[-80:]!r}")
    for number, line in enumerate(blob.split(b"\n")[:-1] if blob else []):
        head, sep, payload = line.partition(b" | ")
        if not sep:
            parsed.errors.append(f"line {number} has no prefix: {line[:120]!r}")
            continue
        name = head.rstrip(b" ").decode(errors="replace")
        if width is not None and len(head) != width and name in names:
            parsed.errors.append(f"line {number}: prefix {head!r} not padded to {width}")
        _file_line(parsed, names, name, payload, number)
    return parsed


GENERIC_LINE = re.compile(rb"^(?:\d\d:\d\d:\d\d )?(\S+?) *\| ?(.*)$")


def parse_generic(blob: bytes, names: set[str]) -> Parsed:
    """honcho and foreman: `[HH:MM:SS ]name<pad> | line`."""
    parsed = Parsed(data={n: [] for n in names}, status={n: [] for n in names})
    for number, line in enumerate(blob.split(b"\n")[:-1] if blob else []):
        match = GENERIC_LINE.match(line)
        if not match:
            parsed.errors.append(f"line {number} has no prefix: {line[:120]!r}")
            continue
        _file_line(parsed, names, match.group(1).decode(errors="replace"), match.group(2), number)
    return parsed


def parse_json(blob: bytes, names: set[str]) -> Parsed:
    """forge's JSON format: each line one object {"time", "process", "line"}."""
    parsed = Parsed(data={n: [] for n in names}, status={n: [] for n in names})
    for number, line in enumerate(blob.split(b"\n")[:-1] if blob else []):
        try:
            record = json.loads(line)
        except ValueError as error:
            parsed.errors.append(f"line {number} is not JSON ({error}): {line[:120]!r}")
            continue
        if not isinstance(record, dict) or set(record) != {"time", "process", "line"}:
            parsed.errors.append(f"line {number} has unexpected fields: {line[:120]!r}")
            continue
        _file_line(parsed, names, record["process"], record["line"].encode(), number)
    return parsed


def _file_line(parsed: Parsed, names: set[str], name: str, payload: bytes, number: int) -> None:
    if name not in names:
        parsed.other += 1  # the supervisor's own lines
    elif payload[:1].isdigit():
        parsed.data[name].append(payload)
    elif STATUS_LINE.match(payload):
        parsed.status[name].append(payload)
    else:
        parsed.errors.append(f"line {number} under {name} is neither data nor status: {payload[:120]!r}")


def check_output(parsed: Parsed, producers: dict[str, tuple[int, int]], *, forge: bool,
                 expected: dict[str, list[bytes]] | None = None) -> None:
    """Raises IntegrityError unless every producer's lines arrived exactly once, in order, whole.

    producers: process name -> (producer id, line count). For forge the status lines are
    checked too: one start and one `exited with code 0` per process. `expected` (per name)
    replaces the producer's lines where forge is meant to change some (redacted secrets).
    """
    problems = list(parsed.errors[:5])
    if len(parsed.errors) > 5:
        problems.append(f"... and {len(parsed.errors) - 5} more malformed lines")
    for name, (pid, count) in producers.items():
        got = parsed.data.get(name, [])
        want = (expected or {}).get(name) or expected_lines(pid, count)
        if got != want:
            problems.append(f"{name}: {diagnose(got, pid, count, want)}")
        if forge:
            status = parsed.status.get(name, [])
            if len(status) != 2 or not status[0].startswith(b"started with pid ") or status[1] != b"exited with code 0":
                problems.append(f"{name}: status lines {status!r}, expected a start and `exited with code 0`")
    if problems:
        raise IntegrityError("\n    ".join(problems))


# --------------------------------------------------------------------------------------------
# Running and measuring


@dataclass
class RunResult:
    wall: float  # seconds, spawn to exit
    maxrss: int  # bytes: peak RSS of the largest process in the tree (see README)
    status: int  # exit code, or -signal
    stderr: bytes
    cpu: float = 0.0  # user + system seconds of the command and the children it waited for


def clean_environment() -> dict[str, str]:
    """The caller's environment without FORGE_* settings, which would change forge's output."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}


def run_measured(measure: list[str], argv: list[str], *, cwd: str, stdout_path: str, timeout: float = 300) -> RunResult:
    """Runs argv under the `measure` wrapper with stdout to a file. Wall time and peak RSS are
    taken by the wrapper (wait4 on its one child), so measurements never leak into each other."""
    return finish_measured(start_measured(measure, argv, cwd=cwd, stdout_path=stdout_path), timeout=timeout)


@dataclass
class Measured:
    """A command started under the `measure` wrapper (see start_measured)."""

    process: subprocess.Popen
    argv: list[str]
    result_path: str
    stderr_path: str


def start_measured(measure: list[str], argv: list[str], *, cwd: str, stdout_path: str) -> Measured:
    """Starts argv under the `measure` wrapper, stdout into a file, in a session of its own."""
    result_path = stdout_path + ".measure"
    stderr_path = stdout_path + ".stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [*measure, result_path, *argv], cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            env=clean_environment(), start_new_session=True)
    return Measured(process, argv, result_path, stderr_path)


def finish_measured(run: Measured, *, timeout: float = 300) -> RunResult:
    """Waits for a start_measured command (stopping its process group after `timeout`) and reads
    the wrapper's figures."""
    watchdog = threading.Timer(timeout, _stop_group, (run.process.pid,))
    watchdog.start()
    try:
        run.process.wait()
    finally:
        watchdog.cancel()
    with open(run.stderr_path, "rb") as err:
        stderr = err.read()
    try:
        with open(run.result_path) as f:
            wall, maxrss_kib, status, cpu = f.read().split()
    except (FileNotFoundError, ValueError):
        raise SystemExit(f"bench: the measure wrapper failed for {run.argv[0]}: {stderr[-500:]!r}")
    for path in (run.result_path, run.stderr_path):
        os.unlink(path)
    return RunResult(float(wall), int(maxrss_kib) * 1024, int(status), stderr, float(cpu))


def wait_blocking(process: subprocess.Popen, limit: float) -> bool:
    """Waits for `process` in one blocking wait(2): Popen.wait(timeout=…) polls with sleeps of
    up to 50 ms, which would round every wall time up to a multiple of 50 ms. A timer kills the
    process group after `limit` seconds; returns False if it had to."""
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass

    timer = threading.Timer(limit, expire)
    timer.start()
    try:
        process.wait()
    finally:
        timer.cancel()
    return not fired.is_set()


def _stop_group(pgid: int, grace: float = 6) -> None:
    """Timeout: SIGTERM to the run's process group (forge then stops its children), later SIGKILL."""
    log(f"    (stopping process group {pgid})")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(grace)


def forge_argv(forge: str, procfile: str, socket: str, *extra: str) -> list[str]:
    return [forge, "start", "-f", procfile, "--no-color", "--no-timestamp", "-t", "5", "--socket", socket, *extra]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile (bytes) and context switches from /proc/PID/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
            elif key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                values[key] = int(rest)
    return values


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of PID from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# The bench context


@dataclass
class Row:
    """One line of the results table."""

    workload: str
    tool: str
    walls: list[float]
    payload: int  # producer bytes moved
    maxrss: int
    baseline: float | None = None  # median wall of the workload's baseline (cat) in the same run
    target: float | None = None
    integrity: str = "ok"
    reference: bool = False  # this row is the workload's baseline (cat rows are, too)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)


@dataclass
class Summary:
    """One line of the markdown summary printed at the end (for pasting into README.md)."""

    figure: str
    forge: str
    baseline: str
    ratio: str  # forge / baseline, or forge - baseline for the RSS floor
    target: str = ""
    verdict: str = ""  # ok, MISSED, FAIL (an integrity check failed) or empty (no target)


def ratio_summary(figure: str, forge: float | None, base: float | None, base_label: str, target: float | None,
                  *, unit: str = "s", failed: bool = False) -> Summary:
    """A Summary for a median figure of forge against the median of its baseline."""
    ratio = forge / base if forge is not None and base else None
    verdict = "FAIL" if failed else ("" if target is None or ratio is None else ("ok" if ratio <= target else "MISSED"))
    return Summary(figure, "-" if forge is None else f"{forge:.3f} {unit}", f"{base_label} {base:.3f} {unit}" if base else "-",
                   "-" if ratio is None else f"{ratio:.2f}x", "" if target is None else f"<= {target:g}x", verdict)


@dataclass
class Feed:
    """What a throughput workload relays, when it is not simply `producer 1 N` (secrets)."""

    source: str | None  # a file of producer-format lines, relayed by `cat FILE` (None: the producer)
    expected: list[bytes]  # the lines forge must print (without prefix and newline)
    forge_args: list[str]  # extra `forge start` arguments
    check: object = None  # callable(blob) -> problem or None, run on forge's output after the line check


class Bench:
    """State shared by the workloads: the forge binary, the producer, the scratch directory."""

    def __init__(self, forge: str, plan: Plan, scratch: str, python_producer: bool, swift: list[str],
                 swift_flags: list[str]):
        self.forge = forge
        self.plan = plan
        self.scratch = scratch
        self.swift, self.swift_flags = swift, swift_flags  # the driver and forge's release flags, for the RSS floor
        self.rows: list[Row] = []
        self.notes: list[str] = []  # lines printed under the table (back-pressure, idle, skips)
        self.summary: list[Summary] = []  # the markdown table at the end
        self.verify: list[str] | None = None  # the C checker of chatty relays (None: check in Python)
        self.producer, self.measure = self.build_helpers(force_python=python_producer)
        self.counter = 0
        self.bigfiles: dict[int, str] = {}

    def build_helpers(self, force_python: bool) -> tuple[list[str], list[str]]:
        """The producer and the measure wrapper, in C if a compiler is there: the C producer
        outruns any supervisor, so the baseline measures the pipe and not the producer."""
        compiler = None if force_python else (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang"))
        if compiler:
            built = []
            for name, source_text in (("producer", PRODUCER_C), ("measure", MEASURE_C), ("verify", VERIFY_C)):
                source = os.path.join(self.scratch, name + ".c")
                binary = os.path.join(self.scratch, name)
                with open(source, "w") as f:
                    f.write(source_text)
                result = subprocess.run([compiler, "-O2", "-o", binary, source], capture_output=True, text=True)
                if result.returncode != 0:
                    log(f"{compiler} failed, using the Python helpers:\n{result.stderr}")
                    break
                built.append([binary])
            else:
                self.helper_kind = f"C ({os.path.basename(compiler)} -O2)"
                self.check_producer(built[0])
                self.verify = built[2]
                return built[0], built[1]
        helpers = []
        for name, source_text in (("producer.py", PRODUCER_PY), ("measure.py", MEASURE_PY)):
            script = os.path.join(self.scratch, name)
            with open(script, "w") as f:
                f.write(source_text)
            helpers.append([sys.executable, script])
        self.helper_kind = "Python (no C compiler: slower producer, peak RSS includes ~10 MB of wrapper)"
        self.check_producer(helpers[0])
        return helpers[0], helpers[1]

    def check_producer(self, argv: list[str]) -> None:
        out = subprocess.run([*argv, "7", "1500"], capture_output=True, check=True).stdout
        if out != expected_blob(7, 1500):
            raise SystemExit("bench: the producer does not write the expected lines")

    def run_dir(self) -> str:
        """A fresh directory per run: Procfile, barrier files, socket, output."""
        self.counter += 1
        path = os.path.join(self.scratch, f"run{self.counter:03d}")
        os.mkdir(path)
        return path

    def producer_command(self, pid: int, count: int, barrier: str | None = None, parties: int = 1) -> str:
        words = [*self.producer, str(pid), str(count)]
        if barrier and parties > 1:
            words += [barrier, str(parties)]
        return "exec " + " ".join(shlex.quote(w) for w in words)

    def write_procfile(self, directory: str, commands: dict[str, str]) -> str:
        path = os.path.join(directory, "Procfile")
        with open(path, "w") as f:
            for name, command in commands.items():
                f.write(f"{name}: {command}\n")
        return path

    # ---- one run of each tool ------------------------------------------------------------

    def bigfile(self, count: int) -> str:
        """The lines of `producer 1 COUNT` in a file, written once: the pipe workload's baseline
        reads it with `cat`."""
        if count not in self.bigfiles:
            path = os.path.join(self.scratch, f"lines-{count}")
            with open(path, "wb") as f:
                subprocess.run([*self.producer, "1", str(count)], stdout=f, check=True)
            self.bigfiles[count] = path
        return self.bigfiles[count]

    def run_baseline(self, counts: list[int], *, pipe: bool = False, source: str | None = None) -> RunResult:
        """The producers through one `cat` into one file: the cost of moving the bytes. With
        `pipe`: `cat FILE | cat > out`, FILE holding the producer's lines; with `source`, that
        file instead (its content is then what the output must be)."""
        directory = self.run_dir()
        out = os.path.join(directory, "out")
        parties = len(counts)
        producers = [self.producer_command(i + 1, n, directory, parties) for i, n in enumerate(counts)]
        if pipe or source:
            assert parties == 1, "the pipe and secrets workloads have one producer"
            script = f"cat {shlex.quote(source or self.bigfile(counts[0]))} | cat > {shlex.quote(out)}"
        elif parties == 1:
            script = f"{producers[0]} | cat > {shlex.quote(out)}"
        else:
            script = "{ " + " ".join(f"{p.removeprefix('exec ')} &" for p in producers) + " wait; } | cat > " + shlex.quote(out)
        result = run_measured(self.measure, ["/bin/sh", "-c", script], cwd=directory, stdout_path=os.path.join(directory, "sh.out"))
        size = os.path.getsize(out)
        expected_size = sum(counts) * LINE_BYTES
        if result.status != 0 or size != expected_size:
            raise SystemExit(f"bench: baseline pipeline failed (status {result.status}, {size} of {expected_size} bytes)")
        if parties == 1:
            want = expected_blob(1, counts[0])
            if source:
                with open(source, "rb") as f:
                    want = f.read()
            with open(out, "rb") as f:
                if f.read() != want:
                    raise SystemExit("bench: baseline output differs from the producer's lines")
        shutil.rmtree(directory)
        return result

    def run_supervisor(self, tool: str, counts: list[int], workload: str, *, json_mode: bool = False,
                       pipe: bool = False, feed: Feed | None = None) -> RunResult | None:
        """One run of forge (or honcho/foreman) with its stdout in a file (with `pipe`, forge's
        stdout is a pipe into `cat > file`), then the full integrity check. Returns None (after
        recording the failure) if the check fails. With `feed`, p1 is `cat FILE` and forge gets
        the feed's arguments and checks."""
        directory = self.run_dir()
        out = os.path.join(directory, "out")
        parties = len(counts)
        commands = {f"p{i + 1}": self.producer_command(i + 1, n, directory, parties) for i, n in enumerate(counts)}
        if feed and feed.source:
            commands = {"p1": f"exec cat {shlex.quote(feed.source)}"}
        procfile = self.write_procfile(directory, commands)
        names = {f"p{i + 1}.1": (i + 1, n) for i, n in enumerate(counts)}
        if tool == "forge":
            extra = ["--log-format", "json"] if json_mode else []
            extra += feed.forge_args if feed else []
            # on-failure: the formation ends when the last producer has exited with 0
            argv = forge_argv(self.forge, procfile, os.path.join(directory, "forge.sock"), "--restart", "on-failure", *extra)
        elif tool == "honcho":
            argv = [shutil.which("honcho"), "start", "-f", procfile, "--no-colour"]
        else:  # foreman
            argv = [shutil.which("foreman"), "start", "-f", procfile]
        if pipe:
            # forge's own exit status goes to a file: sh's would be cat's
            status_path = os.path.join(directory, "status")
            script = ("{ " + " ".join(shlex.quote(word) for word in argv) + f"; echo $? > {shlex.quote(status_path)}; }}"
                      f" | cat > {shlex.quote(out)}")
            result = run_measured(self.measure, ["/bin/sh", "-c", script], cwd=directory,
                                  stdout_path=os.path.join(directory, "sh.out"))
            try:
                with open(status_path) as f:
                    result.status = int(f.read())
            except (FileNotFoundError, ValueError):
                result.status = -1 if result.status == 0 else result.status
        else:
            result = run_measured(self.measure, argv, cwd=directory, stdout_path=out)
        with open(out, "rb") as f:
            blob = f.read()
        try:
            if tool == "forge" and result.status != 0:
                raise IntegrityError(f"forge exited with {result.status}; stderr: {result.stderr[-500:]!r}")
            if tool == "forge" and result.stderr:
                raise IntegrityError(f"forge wrote to stderr: {result.stderr[-500:]!r}")
            if json_mode:
                parsed = parse_json(blob, set(names))
            elif tool == "forge":
                width = max(len("forge"), *(len(n) for n in names))
                parsed = parse_text(blob, set(names), width)
            else:
                parsed = parse_generic(blob, set(names))
            check_output(parsed, names, forge=tool == "forge", expected={"p1.1": feed.expected} if feed else None)
            problem = feed.check(blob) if feed and feed.check else None
            if problem:
                raise IntegrityError(problem)
        except IntegrityError as error:
            kept = os.path.join(self.scratch, f"failed-{self.counter:03d}.out")
            os.replace(out, kept)
            if tool == "forge":
                fail(workload, f"{error}\n    (output kept in {kept})")
            else:
                self.notes.append(f"{tool} lost or damaged lines in {workload}: {error}")
                log(f"    {tool}: integrity check failed (not forge's problem): {error}")
            shutil.rmtree(directory)
            return None
        shutil.rmtree(directory)
        return result

    # ---- the workloads --------------------------------------------------------------------

    def throughput(self, workload: str, counts: list[int], target: float | None, *, json_mode: bool = False,
                   pipe: bool = False, feed: Feed | None = None) -> None:
        """forge vs `cat` moving the same producers' lines into a file, runs interleaved so
        that noise hits both alike. With `pipe`, `forge | cat > file` vs `cat FILE | cat > file`.
        With a feed that has a source file: forge relaying `cat FILE` vs `cat FILE | cat > file`."""
        log(f"[{workload}] {len(counts)} producer(s), {sum(counts):,} lines, {self.plan.runs} runs each")
        cat_walls, forge_walls, cat_rss, forge_rss = [], [], 0, 0
        failed = False
        for run in range(self.plan.runs):
            base = self.run_baseline(counts, pipe=pipe, source=feed.source if feed else None)
            cat_walls.append(base.wall)
            cat_rss = max(cat_rss, base.maxrss)
            result = self.run_supervisor("forge", counts, workload, json_mode=json_mode, pipe=pipe, feed=feed)
            if result is None:
                failed = True
                continue
            forge_walls.append(result.wall)
            forge_rss = max(forge_rss, result.maxrss)
            log(f"    run {run + 1}: cat {base.wall:.3f} s, forge {result.wall:.3f} s ({result.wall / base.wall:.2f}x)")
        payload = sum(counts) * LINE_BYTES
        cat = Row(workload, "cat", cat_walls, payload, cat_rss, integrity="exact" if len(counts) == 1 else "size")
        self.rows.append(cat)
        self.rows.append(Row(workload, "forge" + (" json" if json_mode else ""), forge_walls or [float("nan")], payload,
                             forge_rss, cat.median, target, "FAIL" if failed else "ok"))
        self.summary.append(ratio_summary(
            f"{workload}: wall", statistics.median(forge_walls) if forge_walls else None, cat.median,
            "cat FILE | cat" if pipe or (feed and feed.source) else "cat", target, failed=failed))

    def compare(self, tool: str) -> None:
        """The two throughput workloads through honcho or foreman, if installed."""
        if not shutil.which(tool):
            self.notes.append(f"{tool}: not found on PATH, skipped")
            log(f"[compare] {tool} not found on PATH, skipped")
            return
        p = self.plan
        for workload, counts in (("1 producer", [p.lines]), (f"{p.producers} producers", self.split())):
            log(f"[compare] {tool}, {workload}, {p.compare_runs} runs")
            cat_walls, walls, rss = [], [], 0
            for _ in range(p.compare_runs):
                cat_walls.append(self.run_baseline(counts).wall)
                result = self.run_supervisor(tool, counts, workload)
                if result is not None:
                    walls.append(result.wall)
                    rss = max(rss, result.maxrss)
            self.rows.append(Row(workload, tool, walls or [float("nan")], sum(counts) * LINE_BYTES, rss,
                                 statistics.median(cat_walls), None, "ok" if len(walls) == len(cat_walls) else "FAIL"))

    def split(self) -> list[int]:
        n = self.plan.producers
        return [self.plan.lines // n] * n

    def backpressure(self) -> None:
        """A producer far faster than forge's reader: forge must stop reading the pipe (so the
        producer blocks) rather than buffer, lose nothing, and keep its memory bounded."""
        workload = "back-pressure"
        count = self.plan.backpressure_lines
        chunk, pause = 64 * 1024, 0.01  # at most ~6.5 MB/s
        log(f"[{workload}] {count:,} lines into a reader taking {chunk // 1024} KiB every {pause * 1000:.0f} ms")
        directory = self.run_dir()
        procfile = self.write_procfile(directory, {"p1": self.producer_command(1, count)})
        reader_script = os.path.join(self.scratch, "slow_reader.py")
        with open(reader_script, "w") as f:
            f.write(SLOW_READER_PY)
        out = os.path.join(directory, "out")
        read_end, write_end = os.pipe()
        start = time.perf_counter()
        reader = subprocess.Popen([sys.executable, reader_script, out, str(chunk), str(pause)], stdin=read_end)
        forge = subprocess.Popen(forge_argv(self.forge, procfile, os.path.join(directory, "forge.sock")),
                                 cwd=directory, stdin=subprocess.DEVNULL, stdout=write_end,
                                 stderr=subprocess.PIPE, env=clean_environment())
        os.close(read_end)
        os.close(write_end)
        samples, peak, deadline = 0, 0, time.monotonic() + 300
        while forge.poll() is None:
            if time.monotonic() > deadline:
                forge.terminate()
                break
            try:
                status = proc_status(forge.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            samples += 1
            peak = max(peak, status.get("VmRSS", 0), status.get("VmHWM", 0))
            time.sleep(0.05)
        stderr = forge.communicate(timeout=60)[1]
        wall = time.perf_counter() - start
        reader.wait(timeout=60)
        with open(out, "rb") as f:
            blob = f.read()
        ok = True
        try:
            if forge.returncode != 0 or stderr:
                raise IntegrityError(f"forge exited with {forge.returncode}; stderr: {stderr[-500:]!r}")
            check_output(parse_text(blob, {"p1.1"}, 5), {"p1.1": (1, count)}, forge=True)
            if peak >= BACKPRESSURE_RSS_LIMIT:
                raise IntegrityError(f"forge's RSS reached {peak / 2**20:.1f} MiB (limit 16 MiB)")
        except IntegrityError as error:
            kept = os.path.join(self.scratch, "failed-backpressure.out")
            os.replace(out, kept)
            fail(workload, f"{error}\n    (output kept in {kept})")
            ok = False
        self.notes.append(
            f"back-pressure: {count:,} lines ({len(blob) / 1e6:.1f} MB) through the slow reader in {wall:.1f} s "
            f"({len(blob) / wall / 1e6:.1f} MB/s); forge peak RSS {mib(peak)} MiB over {samples} samples "
            f"(limit 16 MiB); lines {'all there, in order' if ok else 'FAILED (see above)'}")
        self.summary.append(Summary("back-pressure: forge peak RSS", f"{mib(peak)} MiB", "-", "-",
                                    f"< {mib(BACKPRESSURE_RSS_LIMIT)} MiB", "ok" if ok else "FAIL"))
        shutil.rmtree(directory)

    def idle(self) -> None:
        """forge supervising sleeping children should use no CPU at all (it sleeps in
        epoll_wait with no timer) and little memory; SIGTERM must then stop everything."""
        workload = "idle"
        n, seconds = self.plan.idle_children, self.plan.idle_seconds
        log(f"[{workload}] {n} children running `sleep 1000`, measured over {seconds:g} s")
        directory = self.run_dir()
        forge, out, pids = self.start_formation(directory, {"idle": "exec sleep 1000"}, f"idle={n}", n, timeout=10)
        problems = []
        if len(pids) < n:
            problems.append(f"only {len(pids)} of {n} children started")
        time.sleep(0.5)  # let start-up settle
        try:
            before = proc_status(forge.pid), proc_cpu_seconds(forge.pid)
            time.sleep(seconds)
            after = proc_status(forge.pid), proc_cpu_seconds(forge.pid)
        except FileNotFoundError:
            before = after = ({}, 0.0)
            problems.append("forge exited while idle")
        switches = sum(after[0].get(k, 0) - before[0].get(k, 0)
                       for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        stop_problems, stop_seconds = self.stop_formation(forge, pids, timeout=15)
        problems += stop_problems
        if problems:
            with open(out, "rb") as f:
                tail = f.read()[-800:].decode(errors="replace")
            fail(workload, "; ".join(problems) + f"\n    output tail:\n{tail}")
        cpu = after[1] - before[1]
        self.notes.append(
            f"idle: {n} sleeping children; forge RSS {mib(after[0].get('VmRSS', 0))} MiB, CPU {cpu:.2f} s "
            f"and {switches} context switches in {seconds:g} s idle; stopped by SIGTERM in {stop_seconds:.2f} s "
            f"({'clean' if not problems else 'FAILED (see above)'})")
        self.summary.append(Summary(f"idle, {n} children: forge CPU / context switches in {seconds:g} s",
                                    f"{cpu:.2f} s / {switches}", "-", "-", "0", "FAIL" if problems else ""))
        shutil.rmtree(directory)

    # ---- formations of idle processes: RSS floor, one chatty process, start-up -----------

    def start_formation(self, directory: str, commands: dict[str, str], formation: str, expect: int, *,
                        timeout: float = 60, poll: float = 0.05,
                        extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str, list[int]]:
        """Starts forge on a Procfile of `commands` with `-m FORMATION`, stdout and stderr into
        DIRECTORY/out (opened O_APPEND, so that it can be emptied under forge), and waits until
        `expect` processes have printed `started with pid`. Returns forge, the output path and
        the pids seen: fewer than `expect` if they did not all start within `timeout`."""
        procfile = self.write_procfile(directory, commands)
        out = os.path.join(directory, "out")
        with open(out, "ab") as f:
            forge = subprocess.Popen(
                forge_argv(self.forge, procfile, os.path.join(directory, "forge.sock"), "-m", formation, *extra),
                cwd=directory, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=clean_environment())
        pids: list[int] = []
        deadline = time.monotonic() + timeout
        while len(pids) < expect and time.monotonic() < deadline and forge.poll() is None:
            time.sleep(poll)
            with open(out, "rb") as f:
                pids = [int(m) for m in re.findall(rb"started with pid (\d+)", f.read())]
        return forge, out, pids

    def stop_formation(self, forge: subprocess.Popen, pids: list[int], *, timeout: float = 30) -> tuple[list[str], float]:
        """SIGTERM to forge: it must exit 0 within `timeout` with none of `pids` left running.
        Returns the problems found and how long the stop took."""
        problems = []
        start = time.perf_counter()
        forge.send_signal(signal.SIGTERM)
        try:
            status = forge.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            forge.kill()
            status = forge.wait()
            problems.append(f"forge did not exit within {timeout:g} s of SIGTERM")
        seconds = time.perf_counter() - start
        if status != 0:
            problems.append(f"forge exited with {status} after SIGTERM")
        alive = [p for p in pids if _alive(p)]
        if alive:
            problems.append(f"{len(alive)} children still running after forge exited: {alive[:10]}")
        return problems, seconds

    def build_floor(self) -> str | None:
        """A Swift program that only calls pause(), in a package under .build/bench-floor/ of the
        repository, built with forge's release flags: the RSS that any such binary starts with.
        Returns its path, or None (with a note) if it cannot be built."""
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        package = os.path.join(root, ".build", "bench-floor")
        os.makedirs(os.path.join(package, "Sources"), exist_ok=True)
        for name, text in (("Package.swift", FLOOR_PACKAGE), ("Sources/main.swift", FLOOR_SWIFT)):
            path = os.path.join(package, name)
            try:
                with open(path) as f:
                    unchanged = f.read() == text
            except FileNotFoundError:
                unchanged = False
            if not unchanged:  # rewriting an unchanged file would only force a rebuild
                with open(path, "w") as f:
                    f.write(text)
        build = [*self.swift, "build", *self.swift_flags, "--package-path", package]
        log(f"    building the floor: {' '.join(shlex.quote(w) for w in build)}")
        try:
            result = subprocess.run(build, capture_output=True, text=True, timeout=600)
            bin_dir = subprocess.run([*build, "--show-bin-path"], capture_output=True, text=True, timeout=120).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as error:
            result, bin_dir = None, str(error)
        binary = os.path.join(bin_dir, "floor")
        if result is None or result.returncode != 0 or not os.access(binary, os.X_OK):
            detail = bin_dir if result is None else (result.stdout + result.stderr)[-800:]
            self.notes.append(f"idle RSS: the floor could not be built, skipped ({' '.join(build)})")
            log(f"    the floor could not be built:\n{detail}")
            return None
        return binary

    def rss_floor(self) -> None:
        """forge idle with 10 children against the floor: a do-nothing Swift program built the
        same way. What forge adds on top of the Swift runtime should stay under 2 MiB."""
        workload = "idle RSS"
        n, runs = self.plan.idle_children, self.plan.rss_runs
        log(f"[{workload}] forge with {n} sleeping children vs a do-nothing static Swift binary, {runs} samples each")
        floor = self.build_floor()
        if floor is None:
            return
        forge_rss, floor_rss, failed = [], [], False
        split = {}  # the last sample's anonymous and file-backed RSS, to tell heap from code
        for run in range(runs):
            directory = self.run_dir()
            forge, out, pids = self.start_formation(directory, {"idle": "exec sleep 1000"}, f"idle={n}", n, timeout=10)
            time.sleep(0.5)  # let start-up settle
            status = proc_status(forge.pid) if forge.poll() is None else {}
            rss, split["forge"] = status.get("VmRSS", 0), status
            problems, _ = self.stop_formation(forge, pids, timeout=15)
            if len(pids) < n:
                problems.insert(0, f"only {len(pids)} of {n} children started")
            if problems:
                fail(workload, "; ".join(problems))
                failed = True
            else:
                forge_rss.append(rss)
            shutil.rmtree(directory)
            process = subprocess.Popen([floor], stdin=subprocess.DEVNULL)
            time.sleep(0.5)
            split["floor"] = proc_status(process.pid)
            floor_rss.append(split["floor"].get("VmRSS", 0))
            process.kill()
            process.wait()
            log(f"    run {run + 1}: forge {mib(rss)} MiB, floor {mib(floor_rss[-1])} MiB")
        base = statistics.median(floor_rss)
        value = statistics.median(forge_rss) if forge_rss else None
        over = value - base if value is not None else None
        verdict = "FAIL" if failed else ("ok" if over is not None and over <= RSS_OVER_FLOOR else "MISSED")
        self.summary.append(Summary(
            f"idle RSS, {n} children", "-" if value is None else f"{mib(value)} MiB", f"floor {mib(base)} MiB",
            "-" if over is None else f"{'+' if over >= 0 else '-'}{mib(abs(over))} MiB",
            f"<= floor + {mib(RSS_OVER_FLOOR)} MiB", verdict))
        self.notes.append(
            f"idle RSS: forge with {n} sleeping children, VmRSS median {mib(value or 0)} MiB "
            f"({', '.join(mib(r) for r in forge_rss)}); floor {mib(base)} MiB ({os.path.getsize(floor):,}-byte "
            f"static Swift binary that only calls pause(), built with: {' '.join(self.swift_flags)}); "
            + "; ".join(f"{who} RssAnon {mib(split[who].get('RssAnon', 0))} MiB, RssFile {mib(split[who].get('RssFile', 0))} MiB"
                        for who in ("forge", "floor") if who in split))

    def chatty(self) -> None:
        """One process relaying a lot while many others sit idle: forge's cost per byte must not
        grow with the number of processes it watches. Two formations run side by side, the chatty
        process alone and among the idle ones; relays alternate between them."""
        p = self.plan
        runs = min(p.chatty_runs, 99)  # the producer id (2 digits) numbers the relays
        lines = p.chatty_bytes // LINE_BYTES
        workload = f"1 chatty + {p.chatty_idle} idle"
        log(f"[chatty] {lines:,} lines ({p.chatty_bytes / 2**20:g} MiB) per relay, {runs} relays alone and "
            f"{runs} among {p.chatty_idle} idle processes, alternating")
        # Relay i starts when the bench writes to the FIFO `gate`; then the process stays.
        producer = " ".join(shlex.quote(w) for w in self.producer)
        chatty = (f"for i in {' '.join(str(i + 1) for i in range(runs))}; do read go < gate; {producer} $i {lines}; done; "
                  "exec sleep 100000")
        commands = {"chatty": chatty, "idle": "exec sleep 100000"}
        formations: dict[str, tuple[str, subprocess.Popen, str, list[int], bytes]] = {}
        walls: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        problems: list[str] = []
        start_seconds = 0.0
        try:
            for label, idle in (("alone", 0), (f"+ {p.chatty_idle} idle", p.chatty_idle)):
                directory = self.run_dir()
                os.mkfifo(os.path.join(directory, "gate"))
                started = time.perf_counter()
                forge, out, pids = self.start_formation(directory, commands, f"chatty=1,idle={idle}", idle + 1, timeout=120)
                start_seconds = time.perf_counter() - started
                with open(out, "rb") as f:  # forge's "chatty.1 | ", padded to its widest name
                    match = re.search(rb"^(chatty\.1 *\| )started with pid", f.read(), re.MULTILINE)
                formations[label] = (directory, forge, out, pids, match.group(1) if match else b"")
                walls[label], cpus[label] = [], []
                if len(pids) < idle + 1 or not match:
                    raise IntegrityError(f"{label}: only {len(pids)} of {idle + 1} processes started"
                                         + ("" if match else ", none of them chatty.1"))
            time.sleep(0.5)  # let start-up settle
            for run in range(1, runs + 1):
                for label, (directory, forge, out, _, prefix) in formations.items():
                    wall, cpu = self.relay(forge, directory, out, prefix, run, lines)
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    log(f"    relay {run}, {label}: {wall:.3f} s wall, forge CPU {cpu:.2f} s")
        except IntegrityError as error:
            problems.append(str(error))
        hwm = {}
        for label, (directory, forge, out, pids, _) in formations.items():
            hwm[label] = proc_status(forge.pid).get("VmHWM", 0) if forge.poll() is None else 0
            stop_problems, stop_seconds = self.stop_formation(forge, pids)
            problems += [f"{label}: {problem}" for problem in stop_problems]
            if not problems:
                shutil.rmtree(directory)
        if problems:
            fail(workload, "\n    ".join(problems) + f"\n    (output kept in {self.scratch})")
        alone, many = "alone", f"+ {p.chatty_idle} idle"
        payload = lines * LINE_BYTES
        integrity = "FAIL" if problems else "ok"
        if not walls.get(alone) or not walls.get(many):
            return
        self.rows.append(Row(workload, "forge alone", walls[alone], payload, hwm.get(alone, 0), integrity=integrity,
                             reference=True))
        self.rows.append(Row(workload, f"forge {many}", walls[many], payload, hwm.get(many, 0),
                             statistics.median(walls[alone]), TARGET_CHATTY, integrity))
        median = {label: (statistics.median(walls[label]), statistics.median(cpus[label])) for label in (alone, many)}
        figure = f"1 chatty ({p.chatty_bytes / 2**20:g} MiB) among {p.chatty_idle} idle"
        self.summary.append(ratio_summary(f"{figure}: wall", median[many][0], median[alone][0], "alone", TARGET_CHATTY,
                                          failed=bool(problems)))
        self.summary.append(ratio_summary(f"{figure}: forge CPU", median[many][1], median[alone][1], "alone",
                                          TARGET_CHATTY, failed=bool(problems)))
        self.notes.append(
            f"chatty: forge CPU (user+sys) per relay, median of {runs}: alone {median[alone][1]:.2f} s, {many} "
            f"{median[many][1]:.2f} s; the {p.chatty_idle + 1} processes started in {start_seconds:.2f} s and stopped in "
            f"{stop_seconds:.2f} s")

    def relay(self, forge: subprocess.Popen, directory: str, out: str, prefix: bytes, run: int,
              lines: int) -> tuple[float, float]:
        """Opens the chatty process's gate for relay `run` and waits until forge has written all its
        lines (each behind `prefix`); returns forge's wall and CPU seconds for them. Raises
        IntegrityError on damage."""
        os.truncate(out, 0)  # forge's stdout is O_APPEND: its next write lands at 0
        target = lines * (len(prefix) + LINE_BYTES)
        deadline = time.monotonic() + 30
        while True:
            try:
                gate = os.open(os.path.join(directory, "gate"), os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as error:  # ENXIO: the process is not waiting at the gate yet
                if error.errno != errno.ENXIO or time.monotonic() > deadline or forge.poll() is not None:
                    raise IntegrityError(f"relay {run}: the chatty process never came to its gate ({error})")
                time.sleep(0.001)
        cpu = proc_cpu_seconds(forge.pid)
        start = time.perf_counter()
        os.write(gate, b"go\n")
        os.close(gate)
        deadline = time.monotonic() + 300
        while (size := os.stat(out).st_size) < target:
            if forge.poll() is not None or time.monotonic() > deadline:
                raise IntegrityError(f"relay {run}: {size:,} of {target:,} bytes, then "
                                     + ("forge exited" if forge.poll() is not None else "nothing for 300 s"))
            time.sleep(0.002)
        wall = time.perf_counter() - start
        cpu = proc_cpu_seconds(forge.pid) - cpu
        with open(out, "rb") as f:
            problem = self.check_relay(f, prefix, run, lines)
        if problem:
            kept = os.path.join(self.scratch, f"failed-chatty-{run}.out")
            os.replace(out, kept)
            raise IntegrityError(f"relay {run}: {problem} (output kept in {kept})")
        return wall, cpu

    def check_relay(self, f, prefix: bytes, pid: int, count: int) -> str | None:
        """None if the file holds exactly `producer PID COUNT`'s lines behind `prefix`, else what differs."""
        if self.verify:
            result = subprocess.run([*self.verify, prefix.decode(), str(pid), str(count)], stdin=f, capture_output=True)
            return None if result.returncode == 0 else (result.stdout + result.stderr).decode(errors="replace").strip()
        fills = [bytes([97 + (s * 7 + pid * 3) % 26]) * FILL_BYTES + b"\n" for s in range(26)]
        seq = 0
        for line in f:
            if seq >= count or line != prefix + b"%02d %010d " % (pid, seq) + fills[seq % 26]:
                return f"line {seq} of {count} differs: {line[:150]!r}"
            seq += 1
        return None if seq == count else f"only {seq} of {count} lines"

    def start_many(self) -> None:
        """forge starting N instances of one type (until every `started with pid` line is out)
        against sh starting the same commands in the background."""
        n, runs = self.plan.start_instances, self.plan.start_runs
        workload = f"{n} instances start"
        log(f"[{workload}] `sleep 100000` x {n}: forge vs an sh loop, {runs} runs each")
        loop = f'i=0; while [ $i -lt {n} ]; do sh -c "exec sleep 100000" & i=$((i + 1)); done; echo started; wait'
        base_walls, walls, stops, rss, failed = [], [], [], 0, False
        for run in range(runs):
            start = time.perf_counter()
            shell = subprocess.Popen(["/bin/sh", "-c", loop], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     start_new_session=True)
            shell.stdout.readline()
            base_walls.append(time.perf_counter() - start)
            os.killpg(shell.pid, signal.SIGTERM)  # the sleeps; sh waits for them, so none is left a zombie
            shell.communicate(timeout=30)
            directory = self.run_dir()
            start = time.perf_counter()
            forge, out, pids = self.start_formation(directory, {"idle": "exec sleep 100000"}, f"idle={n}", n, poll=0.002)
            walls.append(time.perf_counter() - start)
            rss = max(rss, proc_status(forge.pid).get("VmHWM", 0) if forge.poll() is None else 0)
            problems, stop = self.stop_formation(forge, pids)
            stops.append(stop)
            if len(pids) < n:
                problems.insert(0, f"only {len(pids)} of {n} instances started")
            if problems:
                fail(workload, "; ".join(problems))
                failed = True
            shutil.rmtree(directory)
            log(f"    run {run + 1}: sh {base_walls[-1]:.3f} s, forge {walls[-1]:.3f} s (stop {stop:.2f} s)")
        base = statistics.median(base_walls)
        self.rows.append(Row(workload, "sh &", base_walls, 0, 0, integrity="-", reference=True))
        self.rows.append(Row(workload, "forge", walls, 0, rss, base, None, "FAIL" if failed else "ok"))
        self.summary.append(ratio_summary(f"{n} instances: start", statistics.median(walls), base, "sh &", None,
                                          failed=failed))
        self.notes.append(f"{workload}: forge stopped the {n} instances (SIGTERM) in {statistics.median(stops):.2f} s "
                          f"(median)")

    # ---- a `forge logs -f` follower, secrets, metrics ----------------------------------------

    def follow(self) -> None:
        """forge relaying one producer while a `forge logs -f` client follows everything, against
        the same run without the client and against cat. Every run waits at a gate (a FIFO) until
        it is set up (forge started, the follower connected and its history received); the wall
        time runs from opening the gate to the exit of forge (or of the cat pipeline)."""
        count, runs = self.plan.lines, self.plan.runs
        workload = "1 producer, follower"
        log(f"[{workload}] {count:,} lines; cat, forge, forge with `forge logs -f` attached; {runs} runs each, "
            "timed from a gate")
        variants = ("cat", "forge", FOLLOWED)
        walls: dict[str, list[float]] = {v: [] for v in variants}
        cpus: dict[str, list[float]] = {v: [] for v in variants}
        rss = dict.fromkeys(variants, 0)
        received, told, lost, follower_rss, failed, follower_failed = [], [], [], 0, False, False
        for run in range(runs):
            figures = []
            for variant in variants:
                try:
                    wall, result, stats = self.gated_run(variant, count)
                except IntegrityError as error:
                    kept = os.path.join(self.scratch, f"failed-{self.counter:03d}")
                    fail(workload, f"{variant}: {error}\n    (run directory kept as {kept})")
                    os.replace(os.path.join(self.scratch, f"run{self.counter:03d}"), kept)
                    failed = True
                    continue
                walls[variant].append(wall)
                cpus[variant].append(result.cpu)
                rss[variant] = max(rss[variant], result.maxrss)
                if stats:
                    received.append(stats.received)
                    told.append(stats.told)
                    lost.append(stats.lost)
                    follower_rss = max(follower_rss, stats.maxrss)
                    if stats.problems:
                        fail(workload, "forge logs -f: " + "\n    ".join(stats.problems)
                             + f"\n    (the follower's output kept in {stats.output})")
                        follower_failed = True
                figures.append(f"{variant} {wall:.3f} s")
            log(f"    run {run + 1}: " + ", ".join(figures))
        payload = count * LINE_BYTES
        nan = [float("nan")]
        cat = Row(workload, "cat", walls["cat"] or nan, payload, rss["cat"], integrity="exact")
        self.rows.append(cat)
        failure = {"forge": failed, FOLLOWED: failed or follower_failed}
        for variant in variants[1:]:
            self.rows.append(Row(workload, variant, walls[variant] or nan, payload, rss[variant], cat.median,
                                 TARGET_FOLLOW, "FAIL" if failure[variant] else "ok"))
        median = {v: statistics.median(walls[v]) if walls[v] else None for v in variants}
        for variant in variants[1:]:
            self.summary.append(ratio_summary(f"{workload}: {variant}, wall", median[variant], median["cat"], "cat",
                                              TARGET_FOLLOW, failed=failure[variant]))
        self.summary.append(ratio_summary(f"{workload}: {FOLLOWED} vs forge alone, wall", median[FOLLOWED],
                                          median["forge"], "forge", None, failed=failure[FOLLOWED]))
        if received:
            def spread(values: list[int]) -> str:
                return f"{min(values):,}-{max(values):,} (median {statistics.median(values):,.0f})"
            self.notes.append(
                f"follower: `forge logs -f` (stdout into a file) received {spread(received)} of {count:,} lines per "
                f"run; told `… N lines skipped` for {spread(told)}; lost untold at the end (after the last line it "
                f"got) {spread(lost)}; its peak RSS {mib(follower_rss)} MiB. CPU (user+sys) per run, median: "
                + ", ".join(f"{v} {statistics.median(cpus[v]):.2f} s" for v in variants if cpus[v])
                + " (forge's includes the producer's; cat's the whole pipeline). Runs are timed from the gate: "
                "forge had started and the follower had its history")

    def gated_run(self, variant: str, count: int) -> tuple[float, RunResult, FollowerStats | None]:
        """One run of the follower workload: `cat` (a pipeline), `forge`, or forge with a `forge
        logs -f` client. Returns the wall time from the gate to the exit, the measured run, and
        what the follower got. Raises IntegrityError if forge's own output is damaged (the
        follower's problems are in its stats)."""
        directory = self.run_dir()
        os.mkfifo(os.path.join(directory, "gate"))
        out = os.path.join(directory, "out")
        socket_path = os.path.join(directory, "forge.sock")
        producer = self.producer_command(1, count)
        if variant == "cat":
            script = f"read go < gate; {producer.removeprefix('exec ')} | cat > out"
            run = start_measured(self.measure, ["/bin/sh", "-c", script], cwd=directory,
                                 stdout_path=os.path.join(directory, "sh.out"))
        else:
            procfile = self.write_procfile(directory, {"p1": f"read go < gate; {producer}"})
            run = start_measured(self.measure, forge_argv(self.forge, procfile, socket_path, "--restart", "on-failure"),
                                 cwd=directory, stdout_path=out)
        follower = None
        follower_out = os.path.join(directory, "follower.out")
        try:
            if variant == FOLLOWED:
                wait_for_text(out, b"started with pid", run.process, "forge")
                follower = start_measured(self.measure, [self.forge, "logs", "-f", "--socket", socket_path],
                                          cwd=directory, stdout_path=follower_out)
                wait_for_text(follower_out, b"started with pid", follower.process, "forge logs -f")
            gate = open_gate(os.path.join(directory, "gate"), run.process)
        except IntegrityError:
            for started in (follower, run):
                if started:
                    _stop_group(started.process.pid, grace=2)
            raise
        start = time.perf_counter()
        os.write(gate, b"go\n")
        os.close(gate)
        if not wait_blocking(run.process, 300):
            _stop_group(run.process.pid)
            raise IntegrityError("no exit within 300 s of the gate")
        wall = time.perf_counter() - start
        result = finish_measured(run)
        if variant == "cat":
            if result.status != 0 or os.path.getsize(out) != count * LINE_BYTES:
                raise SystemExit(f"bench: gated baseline failed (status {result.status})")
            with open(out, "rb") as f:
                if f.read() != expected_blob(1, count):
                    raise SystemExit("bench: gated baseline output differs from the producer's lines")
            shutil.rmtree(directory)
            return wall, result, None
        if result.status != 0 or result.stderr:
            raise IntegrityError(f"forge exited with {result.status}; stderr: {result.stderr[-500:]!r}")
        with open(out, "rb") as f:
            blob = f.read()
        width = len("forge")
        check_output(parse_text(blob, {"p1.1"}, width), {"p1.1": (1, count)}, forge=True)
        stats = None
        if follower:
            followed = finish_measured(follower, timeout=30)
            with open(follower_out, "rb") as f:
                stats = check_follower(f.read(), count, width, blob.count(b"\n") - count)
            stats.maxrss, stats.output = followed.maxrss, follower_out
            if followed.status != 0 or followed.stderr:
                stats.problems.insert(0, f"exited with {followed.status} once forge had stopped; stderr: "
                                         f"{followed.stderr[-500:]!r}")
            if stats.problems:
                stats.output = os.path.join(self.scratch, f"failed-follower-{self.counter:03d}.out")
                os.replace(follower_out, stats.output)
        shutil.rmtree(directory)
        return wall, result, stats

    def secrets(self) -> None:
        """forge with --secrets DIR holding 100 secrets, relaying lines that contain none of them,
        and lines of which 1 in 1000 contains one (which forge must print as [redacted:KEY]),
        against cat. The values are the same in every run of the script (a fixed seed)."""
        n, count, every = self.plan.secrets, self.plan.lines, self.plan.secret_every
        directory = os.path.join(self.scratch, "secrets")
        os.mkdir(directory)
        rng = random.Random(20251)
        alphabet = string.ascii_letters + string.digits + "+/"
        values = {f"S{i:03d}": "".join(rng.choice(alphabet) for _ in range(rng.randint(16, 40))).encode()
                  for i in range(1, n + 1)}
        for key, value in values.items():
            with open(os.path.join(directory, key), "wb") as f:
                f.write(value)
        pairs = {bytes(pair) for line in expected_lines(1, 2600) for pair in zip(line, line[1:])}
        hits = sorted(key for key, value in values.items() if value[:2] in pairs)
        self.notes.append(
            f"secrets: {n} values of 16-40 bytes from [A-Za-z0-9+/] (fixed seed); {len(hits)} of them begin with "
            f"a byte pair found in the producer's lines, so the redactor compares them there"
            + (f" ({', '.join(hits[:8])}{', ...' if len(hits) > 8 else ''})" if hits else ""))

        searched: set[int] = set()

        def check(blob: bytes, redacted: int) -> str | None:
            # Every line is compared with the expected (redacted) lines before this, which rules a
            # leaked value out; the first run of each variant is also searched for every value
            # (~1-3 s for 100 values in 110 MB, too slow for every run).
            if redacted not in searched:
                searched.add(redacted)
                leaked = [key for key, value in values.items() if value in blob]
                if leaked:
                    return f"secret values in the output: {', '.join(leaked[:10])}"
            found = blob.count(b"[redacted:")
            return None if found == redacted else f"{found} `[redacted:` in the output, expected {redacted}"

        args = ["--secrets", directory]
        self.throughput(f"1 producer, {n} secrets, none in output", [count], TARGET_SECRETS,
                        feed=Feed(None, expected_lines(1, count), args, lambda blob: check(blob, 0)))
        # 1 line in `every`: a secret at byte 24 of the line, in place of as many fill bytes
        source_lines = list(expected_lines(1, count))
        printed = list(source_lines)
        offset = HEAD_BYTES + 10
        for seq in range(every - 1, count, every):
            key = f"S{(seq // every) % n + 1:03d}"
            line, value = source_lines[seq], values[key]
            source_lines[seq] = line[:offset] + value + line[offset + len(value):]
            printed[seq] = line[:offset] + f"[redacted:{key}]".encode() + line[offset + len(value):]
        source = os.path.join(self.scratch, f"secret-lines-{count}")
        with open(source, "wb") as f:
            f.write(b"\n".join(source_lines) + b"\n")
        del source_lines
        self.throughput(f"1 producer, {n} secrets, 1 line in {every}", [count], TARGET_SECRETS,
                        feed=Feed(source, printed, args, lambda blob: check(blob, count // every)))
        os.unlink(source)

    def metrics(self) -> None:
        """forge with --metrics and 1000 idle processes: how long a /metrics scrape takes, and
        forge's CPU time and context switches over an idle window before the first scrape and
        after the last one (expected: none)."""
        p = self.plan
        n, seconds = p.metrics_instances, p.metrics_idle_seconds
        workload = f"metrics, {n} idle"
        log(f"[metrics] --metrics with {n} idle processes: idle {seconds:g} s, {p.metrics_scrapes} scrapes, "
            f"idle {seconds:g} s")
        with socketlib.socket() as probe:  # a free port (released again: forge binds it)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        directory = self.run_dir()
        started = time.perf_counter()
        forge, out, pids = self.start_formation(directory, {"idle": "exec sleep 100000"}, f"idle={n}", n, timeout=120,
                                                extra=("--metrics", f"127.0.0.1:{port}"))
        start_seconds = time.perf_counter() - started
        problems = [] if len(pids) == n else [f"only {len(pids)} of {n} processes started"]
        times: list[float] = []
        windows: dict[str, tuple[float, int, int]] = {}
        size = 0
        if not problems:
            time.sleep(1.0)  # let start-up settle
            url = f"http://127.0.0.1:{port}/metrics"
            try:
                windows["before"] = idle_window(forge.pid, seconds)
                for scrape in range(p.metrics_scrapes):
                    start = time.perf_counter()
                    with urllib.request.urlopen(url, timeout=10) as response:
                        body = response.read()
                        status, kind = response.status, response.headers.get("Content-Type", "")
                    times.append(time.perf_counter() - start)
                    size = len(body)
                    problem = check_metrics(body, status, kind, n)
                    if problem:
                        problems.append(f"scrape {scrape + 1}: {problem}")
                        break
                time.sleep(0.5)  # the last connection closed
                windows["after"] = idle_window(forge.pid, seconds)
            except (OSError, ValueError) as error:  # urllib's errors are OSErrors
                problems.append(f"forge gone or /metrics failed: {error}")
        hwm = proc_status(forge.pid).get("VmHWM", 0) if forge.poll() is None else 0
        stop_problems, stop_seconds = self.stop_formation(forge, pids, timeout=60)
        problems += stop_problems
        if problems:
            with open(out, "rb") as f:
                tail = f.read()[-800:].decode(errors="replace")
            fail(workload, "; ".join(problems) + f"\n    output tail:\n{tail}")
        else:
            shutil.rmtree(directory)
        failed = bool(problems)
        if times:
            self.rows.append(Row(workload, "GET /metrics", times, 0, hwm, integrity="FAIL" if failed else "ok"))
            scrape = statistics.median(times)
            verdict = "FAIL" if failed else ("ok" if scrape < METRICS_SCRAPE_LIMIT else "MISSED")
            self.summary.append(Summary(f"/metrics scrape, {n} instances (median of {len(times)})",
                                        f"{scrape * 1000:.1f} ms", "-", "-",
                                        f"< {METRICS_SCRAPE_LIMIT * 1000:g} ms", verdict))
        for label, when in (("before", "nobody scraping yet"), ("after", f"after {len(times)} scrapes")):
            if label not in windows:
                continue
            cpu, voluntary, involuntary = windows[label]
            quiet = cpu == 0 and voluntary + involuntary == 0
            self.summary.append(Summary(
                f"--metrics on, {n} idle, {when}: forge CPU / context switches in {seconds:g} s",
                f"{cpu:.2f} s / {voluntary + involuntary}", "-", "-", "0",
                "FAIL" if failed else ("ok" if quiet else "MISSED")))
        self.notes.append(
            f"metrics: {n} idle processes started in {start_seconds:.2f} s; /metrics {size:,} bytes, "
            + (f"scrapes {min(times) * 1000:.1f}-{max(times) * 1000:.1f} ms (median {statistics.median(times) * 1000:.1f}); "
               if times else "no scrape; ")
            + "; ".join(f"idle {label} scraping: CPU {w[0]:.2f} s, {w[1]} voluntary + {w[2]} involuntary context switches"
                        for label, w in windows.items())
            + f"; stopped by SIGTERM in {stop_seconds:.2f} s ({'clean' if not failed else 'FAILED (see above)'})")


FOLLOWED = "forge + logs -f"


def wait_for_text(path: str, text: bytes, process: subprocess.Popen, who: str, timeout: float = 30) -> None:
    """Waits until the file at `path` holds `text`; IntegrityError if `process` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as f:
            if text in f.read():
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise IntegrityError(f"{who} {'exited' if process.poll() is not None else 'stalled'} before writing {text!r}")
        time.sleep(0.002)


def open_gate(path: str, process: subprocess.Popen, timeout: float = 30) -> int:
    """Opens a FIFO for writing once its reader waits (ENXIO until then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO or time.monotonic() > deadline or process.poll() is not None:
                raise IntegrityError(f"the producer never came to its gate ({error})")
            time.sleep(0.001)


SKIPPED_LINE = re.compile(rb"^\xe2\x80\xa6 (\d+) lines skipped$")


@dataclass
class FollowerStats:
    """What a `forge logs -f` client received (see check_follower)."""

    received: int  # data lines, each whole and in order
    told: int  # lines it was told were skipped (`… N lines skipped`)
    lost: int  # data lines after the last one it received: lost untold when forge exited
    problems: list[str]  # cut, repeated, out-of-order or foreign lines; empty if none
    maxrss: int = 0
    output: str = ""


def check_follower(blob: bytes, count: int, width: int, others: int) -> FollowerStats:
    """A `forge logs -f` client's output for producer 1's COUNT lines: its history, then live
    lines. A follower may lose lines by design (a slow one is told `… N lines skipped`; what is
    still buffered when forge exits is written only if the client takes it at once), but every
    line it shows must be whole and exact, once, in order. `others` is how many lines forge's
    own output has besides the data."""
    want = expected_lines(1, count)
    prefix = b"p1.1".ljust(width) + b" | "
    received = told = 0
    last, started, problems = -1, False, []
    if blob and not blob.endswith(b"\n"):
        cut = blob[blob.rfind(b"\n") + 1:]
        problems.append(f"ends in a cut line (forge exited having written only part of it): {cut[:120]!r}")
    for number, line in enumerate(blob.split(b"\n")[:-1] if blob else []):
        if line.startswith(prefix) and line[len(prefix):len(prefix) + 1].isdigit():
            payload = line[len(prefix):]
            match = LINE_HEAD.match(payload)
            seq = int(match.group(2)) if match and match.group(1) == b"01" else -1
            if seq <= last or seq >= count or payload != want[seq]:
                problems.append(f"line {number} cut, repeated or out of order (after seq {last}): {line[:120]!r}")
            else:
                last = seq
                received += 1
        elif (skipped := SKIPPED_LINE.match(line)):
            told += int(skipped.group(1))
        elif line.startswith(prefix) and STATUS_LINE.match(line[len(prefix):]):
            started = started or line[len(prefix):].startswith(b"started with pid ")
        elif not line.startswith(b"forge".ljust(width) + b" | "):
            problems.append(f"line {number} is not forge's format: {line[:120]!r}")
        if len(problems) >= 5:
            break
    if not started:
        problems.append("no `started with pid` line (the history)")
    if received + told > count + others:
        problems.append(f"{received:,} lines received and {told:,} told skipped: more than the {count + others:,} sent")
    return FollowerStats(received, told, count - 1 - last, problems)


def check_metrics(body: bytes, status: int, kind: str, instances: int) -> str | None:
    """None if a /metrics reply is Prometheus text with `forge_process_up ... 1` for every instance."""
    if status != 200:
        return f"HTTP {status}"
    if not kind.startswith("text/plain"):
        return f"Content-Type {kind!r}"
    if not body.endswith(b"\n"):
        return f"does not end with a newline: ...{body[-80:]!r}"
    up = [line for line in body.split(b"\n") if line.startswith(b"forge_process_up{")]
    down = [line for line in up if not line.endswith(b" 1")]
    if len(up) != instances or down:
        return f"{len(up)} forge_process_up series for {instances} instances, {len(down)} not 1: {down[:3]!r}"
    return None


def proc_switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of every thread of PID."""
    voluntary = involuntary = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        voluntary += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        involuntary += int(line.split()[1])
        except FileNotFoundError:
            pass  # the thread ended
    return voluntary, involuntary


def idle_window(pid: int, seconds: float) -> tuple[float, int, int]:
    """PID's CPU seconds (user + sys) and voluntary / involuntary context switches over `seconds`."""
    cpu, (voluntary, involuntary) = proc_cpu_seconds(pid), proc_switches(pid)
    time.sleep(seconds)
    after, (voluntary_after, involuntary_after) = proc_cpu_seconds(pid), proc_switches(pid)
    return after - cpu, voluntary_after - voluntary, involuntary_after - involuntary


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --------------------------------------------------------------------------------------------
# Report


def mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def _verdict(ratio: float | None, target: float | None) -> str:
    if target is None:
        return ""
    if ratio is None:
        return f"<= {target:g}x"
    return f"<= {target:g}x " + ("ok" if ratio <= target else "MISSED")


def print_report(bench: Bench) -> None:
    header = ("workload", "tool", "runs", "wall s (median)", "min-max", "MB/s", "peak RSS MiB", "vs base", "target", "integrity")
    table = []
    for row in bench.rows:
        ok = row.walls and row.walls[0] == row.walls[0]  # not NaN
        ratio = row.median / row.baseline if ok and row.baseline else None
        table.append((
            row.workload, row.tool, str(len(row.walls) if ok else 0),
            f"{row.median:.3f}" if ok else "-",
            f"{min(row.walls):.3f}-{max(row.walls):.3f}" if ok else "-",
            f"{row.payload / row.median / 1e6:.0f}" if ok and row.payload else "-",
            mib(row.maxrss) if row.maxrss else "-",
            f"{ratio:.2f}x" if ratio else ("1.00x" if row.tool == "cat" or row.reference else "-"),
            _verdict(ratio, row.target),
            row.integrity,
        ))
    if table:  # not with --only idle and the like
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        print()
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        print("  ".join("-" * w for w in widths))
        for r in table:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))

    if bench.notes:
        print()
    for note in bench.notes:
        print(note)
    print(f"\nhelpers: {bench.helper_kind}; lines of {LINE_BYTES} bytes; MB/s = producer bytes / wall (1 MB = 10^6 B); "
          f"peak RSS = largest process of the run's tree (forge itself for forge, see README)")
    print_summary(bench.summary)


def print_summary(summary: list[Summary]) -> None:
    """The headline figures as a markdown table, medians against their same-run baselines."""
    if not summary:
        return
    print("\nSummary (markdown):\n")
    print("| figure | forge | baseline | ratio | target | |")
    print("| --- | --- | --- | --- | --- | --- |")
    for line in summary:
        cells = (line.figure, line.forge, line.baseline, line.ratio, line.target, line.verdict)
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")


# --------------------------------------------------------------------------------------------


WORKLOADS = ("single", "pipe", "four", "json", "compare", "backpressure", "idle", "rss", "chatty", "start", "follow",
             "secrets", "metrics")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The Makefile's RELEASE_FLAGS, for runs by hand (`make bench` passes its own with --swift-flags)
RELEASE_FLAGS = f"-c release --static-swift-stdlib -Xlinker -L{REPO}/.build-static-libs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forge", required=True, help="forge binary to measure (a release build)")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer lines, one run each")
    parser.add_argument("--runs", type=int, help="runs per tool and workload (default 7, quick 1)")
    parser.add_argument("--compare-runs", type=int, help="runs of honcho / foreman per workload (default 1)")
    parser.add_argument("--lines", type=int, help="lines for the throughput workloads (default 1,000,000)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    parser.add_argument("--tmpdir", help="scratch directory (default /dev/shm if present, else the system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--python-producer", action="store_true", help="use the Python producer even if cc exists")
    parser.add_argument("--swift", default="swift", help="the swift driver, for the RSS floor (default: swift)")
    parser.add_argument("--swift-flags", default=RELEASE_FLAGS,
                        help="`swift build` flags of forge's release build, used for the RSS floor "
                             "(default: the Makefile's RELEASE_FLAGS)")
    args = parser.parse_args()

    forge = os.path.abspath(args.forge)
    if not os.access(forge, os.X_OK):
        parser.error(f"{args.forge} is not an executable")
    plan = QUICK if args.quick else Plan()
    if args.runs:
        plan = Plan(**{**plan.__dict__, "runs": args.runs})
    if args.compare_runs:
        plan = Plan(**{**plan.__dict__, "compare_runs": args.compare_runs})
    if args.lines:
        plan = Plan(**{**plan.__dict__, "lines": args.lines})
    selected = set(args.only.split(",")) if args.only else set(WORKLOADS)
    if selected - set(WORKLOADS):
        parser.error(f"unknown workload(s): {', '.join(sorted(selected - set(WORKLOADS)))}")

    base = args.tmpdir or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    scratch = tempfile.mkdtemp(prefix="forge-bench-", dir=base)
    started = time.monotonic()
    try:
        bench = Bench(forge, plan, scratch, args.python_producer, shlex.split(args.swift), shlex.split(args.swift_flags))
        log(f"forge bench: {forge}\nscratch: {scratch}; helpers: {bench.helper_kind}; "
            f"{os.cpu_count()} CPUs; {'quick' if args.quick else 'full'} run")
        if "single" in selected:
            bench.throughput("1 producer", [plan.lines], TARGET_SINGLE)
        if "pipe" in selected:
            bench.throughput("1 producer, pipe", [plan.lines], TARGET_PIPE, pipe=True)
        if "four" in selected:
            bench.throughput(f"{plan.producers} producers", bench.split(), TARGET_FOUR)
        if "json" in selected:
            bench.throughput("1 producer, json", [plan.lines], None, json_mode=True)  # the issue sets no target
        if "compare" in selected:
            for tool in ("honcho", "foreman"):
                bench.compare(tool)
        if "backpressure" in selected:
            bench.backpressure()
        if "idle" in selected:
            bench.idle()
        if "rss" in selected:
            bench.rss_floor()
        if "chatty" in selected:
            bench.chatty()
        if "start" in selected:
            bench.start_many()
        if "follow" in selected:
            bench.follow()
        if "secrets" in selected:
            bench.secrets()
        if "metrics" in selected:
            bench.metrics()
        print_report(bench)
    finally:
        if args.keep or FAILURES:
            log(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"total {time.monotonic() - started:.0f} s")
    if FAILURES:
        print(f"\nFAILED: {len(FAILURES)} integrity check(s):", file=sys.stderr)
        for failure in FAILURES:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("all integrity checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
