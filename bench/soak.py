#!/usr/bin/env python3
"""Soak test for forge: a long run of churn that must leave no trace.

`make soak` runs this with the release binary:

    python3 bench/soak.py --forge .build/release/forge [--seconds 60]

One forge runs a formation for SOAK_SECONDS (default 60, or --seconds) that

- crash-loops: several processes exit at once, one of them leaving a background child that
  holds its output pipe; `--restart always` with a huge `--max-restarts` keeps restarting
  them (their backoff grows to 30 s, hence several);
- chatters: Python processes write sequence-numbered lines in small bursts and, when stopped,
  record how many lines they wrote;
- is scaled: one chatty type is scaled between 0 and 4 instances through `forge scale` every
  second, so instances are stopped (and must still deliver every line) and started again.

Every second the script samples forge's open descriptors (/proc/PID/fd), its resident memory
(VmRSS) and its children (live and zombie). At the end forge gets SIGTERM and must stop within
its grace period. It fails (exit status 1) if

- descriptors grow: forge's descriptors minus its live children (one pipe per process) must
  stay within a small band after a warm-up;
- memory grows: RSS after the warm-up must stay within a margin, and its last third must not
  sit above its first third;
- a zombie child of forge is seen in two samples in a row (it was not reaped), or forge
  exits with a status other than 0, or late;
- a chatty line is lost, duplicated, reordered, cut or attributed to the wrong instance: every
  process's lines must be exactly 0..N-1, N being the count it recorded (instances stopped by
  scaling down included).

Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

GRACE_SECONDS = 2  # forge's -t
WARMUP_FRACTION = 0.15  # of the run, at least WARMUP_MIN seconds, is not held to flatness
WARMUP_MIN = 5.0
FD_BAND = 4  # descriptors beyond one per child: max - min allowed after warm-up
RSS_MARGIN = 4 * 1024 * 1024  # post-warm-up max may exceed the warm-up max by this much
RSS_DRIFT = 2 * 1024 * 1024  # last-third median may exceed the first-third median by this much
SCALE_MAX = 4

CHATTY_PY = r'''
import os, signal, sys, time

# SIGTERM (a scale-down or forge's shutdown) ends the loop after the current burst; the count
# of lines written is then recorded, so the soak knows exactly what must have arrived.
stop = False
def on_stop(signum, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_stop)
signal.signal(signal.SIGINT, on_stop)

pid = os.getpid()
name = os.environ.get("PS", "?")
burst = int(sys.argv[1])
pause = float(sys.argv[2])
seq = 0
while not stop:
    lines = []
    for _ in range(burst):
        lines.append("S %d %d %s\n" % (pid, seq, chr(97 + seq % 26) * (10 + seq % 50)))
        seq += 1
    data = "".join(lines).encode()  # under PIPE_BUF: one atomic write
    while data:
        data = data[os.write(1, data):]
    time.sleep(pause)
with open("counts/%d.tmp" % pid, "w") as f:
    f.write("%s %d\n" % (name, seq))
os.rename("counts/%d.tmp" % pid, "counts/%d" % pid)
'''

PROCFILE = """\
chatty: exec {python} chatty.py {burst} {pause}
scaled: exec {python} chatty.py {burst} {pause}
crash: echo "crashing"; exit 3
crashkid: sleep 30 & echo "crashing, leaving $! behind"; exit 2
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# /proc


def read_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def children_of(parent: int) -> tuple[int, list[int]]:
    """(live children, zombie children pids) of `parent`."""
    live, zombies = 0, []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(int(entry))
        if not fields or int(fields[1]) != parent:
            continue
        if fields[0] == "Z":
            zombies.append(int(entry))
        else:
            live += 1
    return live, zombies


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid) or []
    if len(fields) < 13:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Sampling


@dataclass
class Sample:
    at: float
    fds: int
    rss: int
    live: int
    zombies: list[int]

    @property
    def overhead(self) -> int:
        """Descriptors that are not one process's output pipe."""
        return self.fds - self.live


@dataclass
class Soak:
    forge: str
    seconds: float
    scratch: str
    seed: int
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    scale_ops: int = 0
    scale_errors: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)
        log(f"!!! SOAK FAILURE: {message}")

    # ----------------------------------------------------------------------------------------

    def prepare(self, python: str) -> str:
        project = os.path.join(self.scratch, "app")
        os.makedirs(os.path.join(project, "counts"))
        with open(os.path.join(project, "chatty.py"), "w") as f:
            f.write(CHATTY_PY)
        with open(os.path.join(project, "Procfile"), "w") as f:
            f.write(PROCFILE.format(python=python, burst=10, pause=0.01))
        return project

    def run(self) -> None:
        project = self.prepare(sys.executable)
        out_path = os.path.join(self.scratch, "stdout.log")
        err_path = os.path.join(self.scratch, "stderr.log")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
        environment.pop("NO_COLOR", None)
        arguments = [
            self.forge, "start", "-t", str(GRACE_SECONDS), "--no-color", "--no-timestamp",
            "-m", "chatty=2,scaled=2,crash=4,crashkid=1",
            "--restart", "always", "--max-restarts", "1000000",
        ]
        with open(err_path, "wb") as err:
            process = subprocess.Popen(
                arguments, cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                env=environment, start_new_session=True)
        reader = threading.Thread(target=copy_stream, args=(process.stdout, out_path), daemon=True)
        reader.start()
        log(f"forge pid {process.pid}; soaking for {self.seconds:.0f} s in {self.scratch}")

        started = time.monotonic()
        cpu_start = cpu_seconds(process.pid)
        rng = random.Random(self.seed)
        next_sample = started
        next_scale = started + 1.0
        try:
            while time.monotonic() - started < self.seconds:
                if process.poll() is not None:
                    self.fail(f"forge exited by itself with status {process.returncode} after "
                              f"{time.monotonic() - started:.1f} s")
                    break
                now = time.monotonic()
                if now >= next_sample:
                    self.sample(process.pid, now - started)
                    next_sample += 1.0
                if now >= next_scale:
                    self.scale(project, rng.randint(0, SCALE_MAX))
                    next_scale += 1.0
                time.sleep(max(0.0, min(next_sample, next_scale) - time.monotonic()))
            self.cpu = cpu_seconds(process.pid) - cpu_start
        finally:
            if process.poll() is None:
                sent = time.monotonic()
                process.send_signal(signal.SIGTERM)
                try:
                    status = process.wait(timeout=GRACE_SECONDS + 10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    status = process.wait()
                    self.fail("forge did not exit within its grace period + 10 s of SIGTERM")
                self.stop_seconds = time.monotonic() - sent
                if status != 0:
                    self.fail(f"forge exited with status {status} after SIGTERM")
                if self.stop_seconds > GRACE_SECONDS + 3:
                    self.fail(f"forge took {self.stop_seconds:.1f} s to stop (grace period {GRACE_SECONDS} s)")
            else:
                self.stop_seconds = float("nan")
            reader.join(timeout=30)
        with open(err_path, "rb") as f:
            errors = f.read().decode(errors="replace").strip()
        if errors:
            self.fail(f"forge wrote to stderr: {errors[:500]}")
        self.check_output(out_path, os.path.join(project, "counts"))
        self.check_samples()

    def sample(self, pid: int, at: float) -> None:
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            rss = int(read_status(pid)["VmRSS"].split()[0]) * 1024
        except (OSError, KeyError):
            return  # forge is exiting; the main loop notices
        live, zombies = children_of(pid)
        self.samples.append(Sample(at, fds, rss, live, zombies))

    def scale(self, project: str, count: int) -> None:
        self.scale_ops += 1
        result = subprocess.run(
            [self.forge, "scale", f"scaled={count}"], cwd=project, capture_output=True, timeout=30)
        if result.returncode != 0:
            self.scale_errors.append(result.stderr.decode(errors="replace").strip())

    # ----------------------------------------------------------------------------------------
    # Checks

    def check_samples(self) -> None:
        warmup = max(WARMUP_MIN, self.seconds * WARMUP_FRACTION)
        early = [s for s in self.samples if s.at < warmup]
        steady = [s for s in self.samples if s.at >= warmup]
        self.warmup = warmup
        if len(steady) < 3:
            self.fail(f"only {len(steady)} samples after the warm-up: run longer")
            return
        overhead = [s.overhead for s in steady]
        if max(overhead) - min(overhead) > FD_BAND:
            worst = max(steady, key=lambda s: s.overhead)
            self.fail(f"descriptors beyond one per child ranged {min(overhead)}..{max(overhead)} after the "
                      f"warm-up (band {FD_BAND}); worst at {worst.at:.0f} s: {worst.fds} fds, {worst.live} children")
        rss = [s.rss for s in steady]
        ceiling = max([s.rss for s in early] or [rss[0]]) + RSS_MARGIN
        if max(rss) > ceiling:
            self.fail(f"RSS reached {mib(max(rss))} MiB, above the warm-up peak + {mib(RSS_MARGIN)} MiB "
                      f"({mib(ceiling)} MiB)")
        third = max(1, len(rss) // 3)
        first, last = statistics.median(rss[:third]), statistics.median(rss[-third:])
        if last > first + RSS_DRIFT:
            self.fail(f"RSS drifts up: median {mib(first)} MiB in the first third after the warm-up, "
                      f"{mib(last)} MiB in the last")
        previous: set[int] = set()
        for s in self.samples:
            stuck = previous & set(s.zombies)
            if stuck:
                self.fail(f"zombie children of forge not reaped for a second or more at {s.at:.0f} s: "
                          f"{sorted(stuck)}")
                break
            previous = set(s.zombies)
        if self.scale_errors:
            self.fail(f"{len(self.scale_errors)} of {self.scale_ops} `forge scale` calls failed, e.g. "
                      f"{self.scale_errors[0]}")

    def check_output(self, out_path: str, counts_dir: str) -> None:
        recorded: dict[int, tuple[str, int]] = {}
        for entry in os.listdir(counts_dir):
            if entry.isdigit():
                with open(os.path.join(counts_dir, entry)) as f:
                    name, count = f.read().split()
                recorded[int(entry)] = (name, int(count))

        seqs: dict[int, list[int]] = {}
        names: dict[int, set[str]] = {}
        bad: list[bytes] = []
        current: dict[str, int] = {}  # instance name -> pid of its current process
        ended: dict[int, str] = {}  # pid -> how it ended, from forge's lines
        spawned: dict[int, str] = {}
        self.restarts = 0
        self.lines_checked = 0
        line_re = re.compile(rb"^S (\d+) (\d+) ([a-z]+)$")
        with open(out_path, "rb") as f:
            for raw in f:
                line = raw.rstrip(b"\n")
                prefix, sep, text = line.partition(b" | ")
                if not sep:
                    bad.append(line)
                    continue
                name = prefix.strip().decode(errors="replace")
                if text.startswith(b"S "):
                    match = line_re.match(text)
                    if not match:
                        bad.append(line)
                        continue
                    pid, seq, fill = int(match.group(1)), int(match.group(2)), match.group(3)
                    if fill != bytes([97 + seq % 26]) * (10 + seq % 50):
                        bad.append(line)
                        continue
                    seqs.setdefault(pid, []).append(seq)
                    names.setdefault(pid, set()).add(name)
                    self.lines_checked += 1
                elif text.startswith(b"started with pid "):
                    pid = int(text.split()[-1])
                    current[name] = pid
                    spawned[pid] = name
                elif text.startswith(b"restarting in "):
                    self.restarts += 1
                elif text.startswith((b"exited with code ", b"terminated by ")) and name in current:
                    ended[current[name]] = text.decode()
        self.spawns = len(spawned)
        self.chatty_processes = 0
        if bad:
            self.fail(f"{len(bad)} malformed or cut lines, e.g. {bad[0][:120]!r}")
        for pid, name in sorted(spawned.items()):
            if not name.startswith(("chatty.", "scaled.")):
                continue
            self.chatty_processes += 1
            got = seqs.get(pid, [])
            if pid not in recorded:
                # Stopped before Python had set its handler: it can have printed nothing.
                if got:
                    self.fail(f"{name} (pid {pid}) printed {len(got)} lines but recorded no count "
                              f"(it ended: {ended.get(pid, 'unknown')})")
                continue
            recorded_name, count = recorded[pid]
            if recorded_name != name or names.get(pid, {name}) != {name}:
                self.fail(f"pid {pid} is {recorded_name} but its lines came as {sorted(names.get(pid, []))}, "
                          f"started as {name}")
            if got != list(range(count)):
                self.fail(f"{name} (pid {pid}): {describe_sequence(got, count)}")
        for pid in seqs:
            if pid not in spawned:
                self.fail(f"lines from pid {pid}, which forge never reported starting")
        missing = [pid for pid in recorded if pid not in spawned]
        if missing:
            self.fail(f"{len(missing)} chatty processes recorded counts but forge never reported starting them")


def describe_sequence(got: list[int], count: int) -> str:
    seen = set(got)
    missing = [s for s in range(count) if s not in seen]
    duplicated = len(got) - len(seen)
    reordered = sum(1 for a, b in zip(got, got[1:]) if b < a)
    parts = [f"received {len(got)} lines of {count}"]
    if missing:
        parts.append(f"{len(missing)} missing (first {missing[:5]})")
    if duplicated:
        parts.append(f"{duplicated} duplicated")
    if reordered:
        parts.append(f"{reordered} out of order")
    extra = [s for s in seen if s >= count]
    if extra:
        parts.append(f"{len(extra)} beyond the recorded count")
    return "; ".join(parts)


def copy_stream(stream, path: str) -> None:
    with open(path, "wb") as out:
        while True:
            data = stream.read1(1 << 16)
            if not data:
                return
            out.write(data)


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.1f}"


def summarise(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def print_report(soak: Soak) -> None:
    steady = [s for s in soak.samples if s.at >= getattr(soak, "warmup", 0)]
    rows = []
    if steady:
        for label, values, fmt in [
            ("open descriptors", [s.fds for s in steady], "{:.0f}"),
            ("descriptors - children", [s.overhead for s in steady], "{:.0f}"),
            ("live children", [s.live for s in steady], "{:.0f}"),
            ("RSS MiB", [s.rss / 1048576 for s in steady], "{:.2f}"),
            ("zombie children", [len(s.zombies) for s in steady], "{:.0f}"),
        ]:
            low, mid, high = summarise(values)
            rows.append((label, fmt.format(low), fmt.format(mid), fmt.format(high)))
    print()
    print(f"forge soak: {soak.seconds:.0f} s, {len(soak.samples)} samples "
          f"({len(steady)} after a {getattr(soak, 'warmup', 0):.0f} s warm-up)")
    print(f"{'metric':<24} {'min':>8} {'median':>8} {'max':>8}")
    for label, low, mid, high in rows:
        print(f"{label:<24} {low:>8} {mid:>8} {high:>8}")
    print()
    print(f"spawns {getattr(soak, 'spawns', 0)}, restarts by policy {getattr(soak, 'restarts', 0)}, "
          f"scale calls {soak.scale_ops} ({len(soak.scale_errors)} failed)")
    print(f"chatty processes {getattr(soak, 'chatty_processes', 0)}, "
          f"lines checked {getattr(soak, 'lines_checked', 0):,}")
    print(f"forge CPU {getattr(soak, 'cpu', 0.0):.1f} s; stopped {getattr(soak, 'stop_seconds', float('nan')):.2f} s "
          f"after SIGTERM (grace {GRACE_SECONDS} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forge", required=True, help="forge binary (a release build)")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "60")),
                        help="how long to soak (default SOAK_SECONDS or 60)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the scaling sequence")
    parser.add_argument("--tmpdir", help="scratch directory (default /dev/shm if present, else the system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    forge = os.path.abspath(args.forge)
    if not os.access(forge, os.X_OK):
        parser.error(f"{args.forge} is not an executable")
    if args.seconds < WARMUP_MIN + 3:
        parser.error(f"--seconds must be at least {WARMUP_MIN + 3:.0f}")
    base = args.tmpdir or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    scratch = tempfile.mkdtemp(prefix="forge-soak-", dir=base)
    soak = Soak(forge, args.seconds, scratch, args.seed)
    try:
        soak.run()
        print_report(soak)
    finally:
        if args.keep or soak.failures:
            log(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    if soak.failures:
        print(f"\nFAILED: {len(soak.failures)} check(s):", file=sys.stderr)
        for failure in soak.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("soak passed: descriptors and memory flat, no zombies, every line once and in order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
