#!/usr/bin/env python3
"""Side by side: tierun against every peer, on the same workloads, in one run.

    python3 bench/compare.py BUILD_DIR [--reps 5] [--workloads W1,W2,W3,W4]
                             [--tools reference,tierun-run,...] [--out FILE]

Every tool runs the same agents -- 5 tiers, at most N = 6 at once -- and the
tools take turns run by run (rep 1 of every tool, then rep 2, ...), so a
noisy neighbour hits them all alike. The machine is shared: the result is
each tool's time divided by the reference's time *in the same rep* (the
median of those ratios, and their min-max), not the absolute times.

Workloads (issue 5):
  W1  400 runs per tier of /bin/true: the cost per agent.
  W2  12 runs per tier of a 50 ms sleep: makespan against the ideal 0.5 s.
  W3  the concurrency probe: the log verifier's maximum must equal N.
  W4  W1's agent at 2,000 and 20,000 runs: the cost per agent stays flat;
      the orchestrator's peak RSS.
Tools: reference (a posix_spawn + waitpid loop in C), tierun-run (full
reports), tierun-exec (a shell loop of `tierun exec` under `tierun serve`),
make -jN, xargs -P N, GNU parallel -j N, and the prior-art Python design.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

N = 6
TIERS = 5
HERE = os.path.dirname(os.path.abspath(__file__))


class Workload:
    def __init__(self, name, runs_per_tier, agent, what):
        self.name = name
        self.runs_per_tier = runs_per_tier
        self.agent = agent  # argv; "{tier}" and "{i}" (0..runs_per_tier-1) are substituted
        self.what = what

    @property
    def total(self):
        return TIERS * self.runs_per_tier

    def argv(self, tier, i):
        return [w.replace("{tier}", str(tier)).replace("{i}", str(i)) for w in self.agent]


# --- How each tool runs a workload: a function returning (argv, env) ---

def shell_quote(words):
    return " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)


def global_index_agent(workload):
    """The agent with one placeholder {i} = tier * runs + i, for the tools
    that number runs globally (the reference, xargs, parallel)."""
    return [w.replace("{tier}-{i}", "{i}") for w in workload.agent]


def tool_reference(b, workload, scratch):
    return [b.spawn_ref, str(N), str(workload.total)] + global_index_agent(workload)


def tool_tierun_run(b, workload, scratch):
    # A tier's runs are runs of one sub-test: "400 runs per tier".
    plan = os.path.join(scratch, "plan.toml")
    command = [w.replace("{i}", "{run}") for w in workload.agent]
    with open(plan, "w") as f:
        f.write('[experiment]\nname = "bench"\nruns = %d\n[agent]\ncommand = %s\n' % (
            workload.runs_per_tier, json.dumps(command)))
        for tier in range(TIERS):
            f.write('[[tier]]\nid = "%d"\nsubtests = ["s"]\n' % tier)
    return [b.tierun, "run", plan, "-j", str(N), "--progress", "none",
            "--results", os.path.join(scratch, "results")]


def tool_tierun_exec(b, workload, scratch):
    lines = []
    for tier in range(TIERS):
        for i in range(workload.runs_per_tier):
            lines.append(shell_quote([b.tierun, "exec", "--"] + workload.argv(tier, i)) + " &")
    script = os.path.join(scratch, "loop.sh")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\nwait\n")
    return [b.tierun, "serve", "-j", str(N), "--", "bash", script]


def tool_make(b, workload, scratch):
    makefile = os.path.join(scratch, "Makefile")
    with open(makefile, "w") as f:
        targets = []
        for tier in range(TIERS):
            for i in range(workload.runs_per_tier):
                target = "r%d_%d" % (tier, i)
                targets.append(target)
                f.write("%s:\n\t@%s\n" % (target, shell_quote(workload.argv(tier, i)).replace("$", "$$")))
        f.write(".PHONY: all %s\nall: %s\n" % (" ".join(targets), " ".join(targets)))
    return ["make", "-s", "-j", str(N), "-f", makefile, "all"]


def tool_xargs(b, workload, scratch):
    agent = [w.replace("{i}", "{}") for w in global_index_agent(workload)]
    return ["bash", "-c", "seq 0 %d | xargs -P %d -I{} %s" % (workload.total - 1, N, shell_quote(agent))]


def tool_parallel(b, workload, scratch):
    agent = [w.replace("{i}", "{}") for w in global_index_agent(workload)]
    # Without a {} in the command, parallel would append the input to it.
    no_input = "" if any("{}" in w for w in agent) else "-N0 "
    return ["bash", "-c", "seq 0 %d | parallel --will-cite %s-j %d %s" % (
        workload.total - 1, no_input, N, shell_quote(agent))]


def tool_prior_art(b, workload, scratch):
    return [sys.executable, os.path.join(HERE, "peers", "prior_art.py"), str(N), str(TIERS),
            str(workload.runs_per_tier)] + workload.agent


TOOLS = {
    "reference": tool_reference,
    "tierun-run": tool_tierun_run,
    "tierun-exec": tool_tierun_exec,
    "make": tool_make,
    "xargs": tool_xargs,
    "parallel": tool_parallel,
    "prior-art": tool_prior_art,
}
# Starting thousands of waiting processes at once (the exec shell loop) or a
# Python pool per tier is what those designs do; at 20,000 runs it measures
# the machine's memory, not the runner, so W4's large size leaves them out.
TOO_HEAVY_AT_SCALE = {"tierun-exec", "parallel", "prior-art"}


class Binaries:
    def __init__(self, build):
        self.tierun = os.path.join(build, "src", "tierun")
        self.spawn_ref = os.path.join(build, "bench", "tierun-spawn-ref")
        self.probe = os.path.join(build, "tests", "tools", "tierun-probe")
        self.verify = os.path.join(build, "tests", "tools", "tierun-verify-log")
        for path in (self.tierun, self.spawn_ref, self.probe, self.verify):
            if not os.access(path, os.X_OK):
                sys.exit("bench/compare.py: %s not found; build first (make bench)" % path)


def measure(argv, cwd):
    """Runs argv; returns (seconds, peak RSS in KiB of the tool and its
    agents). GNU time starts the tool: a child forked from this Python
    would carry Python's pages until it execs, and count them."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CARGO_MAKEFLAGS")}
    # stderr to a file: a pipe nobody reads while we wait could fill and stall the tool.
    with open(os.path.join(cwd, "stderr.log"), "w+") as stderr:
        start = time.perf_counter()
        rss_file = os.path.join(cwd, "rss")
        process = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv, cwd=cwd,
                                 env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError("%s exited %d: %s" % (argv[0], process.returncode,
                                                     stderr.read()[-2000:]))
    with open(rss_file) as f:
        return seconds, int(f.read().split()[-1])


def probe_max(b, log, expected):
    out = subprocess.run([b.verify, log, "--limit", "1000000", "--expect-count", str(expected)],
                         capture_output=True, text=True)
    match = re.search(r"max concurrency (\d+)", out.stdout + out.stderr)
    if out.returncode != 0 or not match:
        raise RuntimeError("verifier: " + out.stdout + out.stderr)
    return int(match.group(1))


def workloads(b, selected):
    result = []
    if "W1" in selected:
        result.append(Workload("W1", 400, ["/bin/true"], "2,000 runs of /bin/true"))
    if "W2" in selected:
        result.append(Workload("W2", 12, ["/bin/sleep", "0.05"], "60 runs of a 50 ms sleep"))
    if "W3" in selected:
        result.append(Workload("W3", 12, [b.probe, "--log", "{log}", "--id", "{tier}-{i}",
                                          "--hold-ms", "50"], "the concurrency probe, 60 runs"))
    if "W4" in selected:
        result.append(Workload("W4-2k", 400, ["/bin/true"], "2,000 runs of /bin/true"))
        result.append(Workload("W4-20k", 4000, ["/bin/true"], "20,000 runs of /bin/true"))
    return result


def run_all(b, tools, selected, reps, scratch_root):
    rows = {}  # (workload, tool) -> list of samples
    for workload in workloads(b, selected):
        names = [t for t in tools if not (workload.name == "W4-20k" and t in TOO_HEAVY_AT_SCALE)]
        for rep in range(reps):
            for tool in names:
                scratch = tempfile.mkdtemp(prefix="tierun-bench-", dir=scratch_root)
                try:
                    log = os.path.join(scratch, "probe.log")
                    agent = [w.replace("{log}", log) for w in workload.agent]
                    current = Workload(workload.name, workload.runs_per_tier, agent, workload.what)
                    argv = TOOLS[tool](b, current, scratch)
                    seconds, rss = measure(argv, scratch)
                    sample = {"seconds": seconds, "rss_kib": rss}
                    if workload.name == "W3":
                        sample["max_concurrency"] = probe_max(b, log, workload.total)
                    rows.setdefault((workload, tool), []).append(sample)
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
            print("  %s rep %d/%d done" % (workload.name, rep + 1, reps), file=sys.stderr)
    return rows


def summarise(rows, reps):
    summary = []
    by_workload = {}
    for (workload, tool), samples in rows.items():
        by_workload.setdefault(workload, {})[tool] = samples
    for workload, tools in by_workload.items():
        reference = tools["reference"]
        for tool, samples in tools.items():
            seconds = [s["seconds"] for s in samples]
            ratios = [s["seconds"] / r["seconds"] for s, r in zip(samples, reference)]
            entry = {
                "workload": workload.name, "what": workload.what, "tool": tool, "reps": len(samples),
                "median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "per_agent_us": statistics.median(seconds) / workload.total * 1e6,
                "peak_rss_mib": max(s["rss_kib"] for s in samples) / 1024,
            }
            if workload.name == "W3":
                entry["max_concurrency"] = max(s["max_concurrency"] for s in samples)
            summary.append(entry)
    return summary


def print_table(summary):
    print("| workload | tool | median s (min-max) | ratio to reference (min-max) | "
          "per agent | peak RSS | max concurrency |")
    print("|---|---|---|---|---|---|---|")
    for e in summary:
        concurrency = ""
        if "max_concurrency" in e:
            concurrency = "%d%s" % (e["max_concurrency"], "" if e["max_concurrency"] == N
                                    else " (limit %d!)" % N)
        print("| %s | %s | %.3f (%.3f-%.3f) | %.2fx (%.2f-%.2f) | %.0f us | %.1f MiB | %s |" % (
            e["workload"], e["tool"], e["median_s"], e["min_s"], e["max_s"], e["ratio_median"],
            e["ratio_min"], e["ratio_max"], e["per_agent_us"], e["peak_rss_mib"], concurrency))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--out", default="")
    parser.add_argument("--scratch", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the tools run and tierun writes its results (default: "
                             "/dev/shm, a tmpfs, so the disk's speed is not what is measured)")
    args = parser.parse_args()
    b = Binaries(os.path.abspath(args.build))
    tools = args.tools.split(",")
    if "reference" not in tools:
        tools.insert(0, "reference")
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        sys.exit("bench/compare.py: unknown tool(s) %s; known: %s" % (unknown, ", ".join(TOOLS)))
    rows = run_all(b, tools, args.workloads.split(","), args.reps, args.scratch)
    summary = summarise(rows, args.reps)
    print_table(summary)
    out = args.out or os.path.join(HERE, "results", "compare-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump({"n": N, "tiers": TIERS, "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                   "results": summary}, f, indent=2)
    os.replace(out + ".tmp", out)
    print("\n(%s)" % os.path.relpath(out))


if __name__ == "__main__":
    main()
