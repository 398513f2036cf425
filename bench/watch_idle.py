#!/usr/bin/env python3
"""forge's idle cost with --watch on a tree of 10,000 files, against the same formation
without it: CPU time and context switches over 5 s, and the inotify watches it holds.
Run by `make bench` after bench.py: python3 bench/watch_idle.py --forge PATH."""
import argparse, os, shutil, signal, subprocess, sys, tempfile, time


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    switches = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split()[1])
    return ticks / os.sysconf("SC_CLK_TCK"), switches


def watches(pid):
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                count += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            pass
    return count


def run(forge, root, extra, seconds):
    proc = subprocess.Popen([forge, "start", "-t", "1"] + extra, cwd=root, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "started with pid" in line:
            break
    time.sleep(0.5)  # a measuring window, not synchronisation: forge is up
    cpu0, sw0 = stat(proc.pid)
    time.sleep(seconds)
    cpu1, sw1 = stat(proc.pid)
    held = watches(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    return cpu1 - cpu0, sw1 - sw0, held


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--forge", required=True)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="forge-watch-")
    try:
        with open(os.path.join(root, "Procfile"), "w") as f:
            f.write("web: exec sleep 100000\n")
        for d in range(100):
            sub = os.path.join(root, "app", f"pkg{d:03d}")
            os.makedirs(sub)
            for i in range(100):
                with open(os.path.join(sub, f"mod{i:03d}.py"), "w") as f:
                    f.write("x = 1\n")
        forge = os.path.abspath(args.forge)
        plain = run(forge, root, [], args.seconds)
        watched = run(forge, root, ["--watch", "web=app/**/*.py"], args.seconds)
        print("| figure | without --watch | with --watch (10,000 files, 101 directories) |")
        print("| --- | --- | --- |")
        print(f"| forge CPU over {args.seconds:g} s idle | {plain[0]:.2f} s | {watched[0]:.2f} s |")
        print(f"| context switches over {args.seconds:g} s | {plain[1]} | {watched[1]} |")
        print(f"| inotify watches held | {plain[2]} | {watched[2]} |")
        ok = watched[0] <= plain[0] + 0.01 and watched[1] <= plain[1] + 2
        print("idle with --watch:", "unchanged (ok)" if ok else "CHANGED")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
