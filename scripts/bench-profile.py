#!/usr/bin/env python3
"""Instruction profile of a user->kernel message, for scripts/bench-profile.

  bench-profile.py drive OUT       follows OUT/console.log of a `bench-profile` boot: at each
                                   `profile-start W` line has QEMU (monitor OUT/monitor.sock) log
                                   every executed instruction into OUT/exec-W.log, at
                                   `profile-stop W` stops it; after each it lets the guest go on
                                   (a line on OUT/go.sock). Counts each log by address into
                                   OUT/exec-W.json and deletes it (KEEP_LOGS=1 keeps it).
  bench-profile.py report OUT SYSTEM_MAP COUNT
                                   prints a Markdown report, per path P and configuration C: the
                                   instructions of window C-P-2 (2 * COUNT operations) minus those
                                   of C-P-1 (COUNT), over COUNT, in all and by function (kernel
                                   symbols from SYSTEM_MAP, module symbols from the guest's
                                   `sym C ADDRESS NAME` lines)

QEMU runs one instruction per translation block without chaining, so each `Trace` line of
`-d exec` is one executed guest instruction (a `rep` string instruction logs once per iteration,
as instruction counting counts it).
"""
import bisect
import collections
import json
import os
import re
import socket
import sys
import threading
import time

CONFIGS = ("floor", "cn", "ours")
LABELS = {"floor": "floor", "cn": "C cn.ko", "ours": "ours"}
MAX_LOG = 8 << 30
PC = re.compile(rb"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


def connect(path, timeout):
    """A connection to one of QEMU's Unix sockets, once QEMU has created it."""
    deadline = time.time() + timeout
    while True:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock
        except OSError:
            if time.time() > deadline:
                sys.exit(f"bench-profile: no QEMU socket at {path}")
            time.sleep(0.2)


class Monitor:
    """The QEMU human monitor on a Unix socket."""

    def __init__(self, path, timeout):
        self.sock = connect(path, timeout)
        self._read_prompt()

    def _read_prompt(self):
        data = b""
        while not data.endswith(b"(qemu) "):
            chunk = self.sock.recv(4096)
            if not chunk:
                sys.exit("bench-profile: the QEMU monitor closed")
            data += chunk

    def command(self, line):
        self.sock.sendall(line.encode() + b"\n")
        self._read_prompt()


def count_pcs(log, keep):
    """Counts the instructions of a closed log by address into its .json, then deletes it."""
    by_pc = collections.Counter()
    with open(log, "rb") as f:
        for line in f:
            m = PC.match(line)
            if m:
                by_pc[m.group(1).decode()] += 1
    with open(log[: -len(".log")] + ".json", "w") as f:
        json.dump(by_pc, f)
    if not keep:
        os.remove(log)


def drive(out, keep):
    console = os.path.join(out, "console.log")
    monitor_path = os.path.join(out, "monitor.sock")
    monitor = Monitor(monitor_path, 60)
    go = connect(os.path.join(out, "go.sock"), 60)
    counters = []
    seen = 0
    logging = None
    done = False
    # QEMU removes the monitor socket when it quits.
    while not done and os.path.exists(monitor_path):
        if logging and os.path.getsize(logging) > MAX_LOG:
            monitor.command("log nochain")
            sys.exit(f"bench-profile: {logging} grew beyond {MAX_LOG} bytes: logging stopped")
        try:
            with open(console, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        # Complete lines only: the last one may still be being written.
        lines = data[: data.rfind(b"\n") + 1].decode(errors="replace").splitlines()
        for line in lines[seen:]:
            m = re.search(r"\[bench\] profile-(start|stop) (\S+)", line)
            if m and m.group(1) == "start":
                logging = f"{out}/exec-{m.group(2)}.log"
                monitor.command(f"logfile {logging}")
                monitor.command("log exec,nochain")
                print(f"    logging the instructions of {m.group(2)}", flush=True)
            elif m:
                monitor.command("log nochain")
                # Another log file closes (and flushes) this one.
                monitor.command(f"logfile {out}/qemu-exec.log")
                counter = threading.Thread(target=count_pcs, args=(logging, keep))
                counter.start()
                counters.append(counter)
                logging = None
            if m:
                go.sendall(b"go\n")
            if "HARNESS: done" in line:
                # A guest that failed inside a window leaves the logging on.
                if logging:
                    monitor.command("log nochain")
                done = True
                break
        seen = len(lines)
        time.sleep(0.02)
    for counter in counters:
        counter.join()


def symbols(out, system_map):
    """Per configuration with a symbol file (sym-C.txt, written by the run that profiled it):
    sorted (address, name) of kernel and module text symbols."""
    kernel = []
    with open(system_map) as f:
        for line in f:
            addr, kind, name = line.split()[:3]
            if kind in "tTwW":
                kernel.append((int(addr, 16), name))
    tables = {}
    for c in CONFIGS:
        try:
            with open(os.path.join(out, f"sym-{c}.txt"), "rb") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            continue
        modules = []
        for line in text.splitlines():
            m = re.search(r"\[bench\] sym (\w+) ([0-9a-f]+) (\S+)", line)
            if m and m.group(1) == c:
                modules.append((int(m.group(2), 16), m.group(3)))
        tables[c] = sorted(kernel + modules)
    return tables


def by_function(out, window, table):
    """The instruction counts of a window by function."""
    addrs = [a for a, _ in table]
    with open(os.path.join(out, f"exec-{window}.json")) as f:
        by_pc = json.load(f)
    by_fn = collections.Counter()
    for pc, n in by_pc.items():
        i = bisect.bisect_right(addrs, int(pc, 16)) - 1
        by_fn[table[i][1] if i >= 0 else "?"] += n
    return by_fn


def short(name):
    """A readable name for a Rust v0 symbol: its last path components."""
    if not name.startswith("_R"):
        return name
    parts = re.findall(r"\d+([A-Za-z_][A-Za-z0-9_]*)", name)
    return "::".join(p for p in parts[-3:] if not p.startswith("Cs")) or name


PATHS = {
    "send": "`cnctl bench send --size 0`: user->kernel messages",
    "send64": "`cnctl bench send --size 64`: user->kernel messages of 64 bytes",
    "send1k": "`cnctl bench send --size 1024`: user->kernel messages of 1024 bytes",
    "bcast": "`cnctl bench bcast --size 0 --listeners 1`: kernel->user broadcasts",
    "adddel": "`cnctl bench adddel`: `cn_add_callback()` + `cn_del_callback()` pairs",
}


def report(out, system_map, n):
    tables = symbols(out, system_map)
    print(f"Instructions per operation: the difference between windows of {2 * n} and {n} "
          f"operations, over {n}; everything the guest executed (the sender's system calls, the "
          "kernel, interrupts), from QEMU's instruction log.\n")
    for path, what in PATHS.items():
        configs = [
            c
            for c in CONFIGS
            if all(os.path.exists(os.path.join(out, f"exec-{c}-{path}-{w}.json")) for w in (1, 2))
        ]
        for c in [c for c in configs if c not in tables]:
            print(f"bench-profile: no sym-{c}.txt: {c} left out of {path}", file=sys.stderr)
            configs.remove(c)
        if not configs:
            continue
        # The last column compares ours with C when both are there.
        versus = "ours" in configs and "cn" in configs
        fns = {}
        for c in configs:
            fns[c] = by_function(out, f"{c}-{path}-2", tables[c])
            fns[c].subtract(by_function(out, f"{c}-{path}-1", tables[c]))
        totals = {c: sum(fns[c].values()) / n for c in configs}
        print(f"### {what}\n")
        print("| | " + " | ".join(LABELS[c] for c in configs) + " |")
        print("|---|" + "---:|" * len(configs))
        print("| instructions | " + " | ".join(f"{totals[c]:.1f}" for c in configs) + " |\n")
        names = set().union(*fns.values())
        rows = []
        for name in names:
            per = [fns[c][name] / n for c in configs]
            if max(per) - min(per) >= 0.5:
                diff = (fns["ours"][name] - fns["cn"][name]) / n if versus else None
                rows.append((diff, max(per) - min(per), short(name), per))
        rows.sort(key=lambda r: -(abs(r[0]) if versus else r[1]))
        print("Functions whose count differs by at least 0.5 between configurations:\n")
        last = " ours - C |" if versus else ""
        print("| function | " + " | ".join(LABELS[c] for c in configs) + " |" + last)
        print("|---|" + "---:|" * (len(configs) + versus))
        for diff, _, name, per in rows[:40]:
            cells = " | ".join(f"{p:.1f}" for p in per)
            print(f"| `{name}` | {cells} |" + (f" {diff:+.1f} |" if versus else ""))
        print()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "drive":
        drive(sys.argv[2], os.environ.get("KEEP_LOGS") == "1")
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
