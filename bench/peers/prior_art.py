#!/usr/bin/env python3
"""The prior-art design, for bench/compare.py (docs/design.md section 1.2): one
global multiprocessing.Manager().Semaphore(N); a thread per tier; in each
tier a ProcessPoolExecutor(max_workers=N) whose worker acquires the
semaphore, runs the agent with subprocess.run, and releases it in `finally`.
Written from the description, not copied; it keeps the design's costs (a
manager process, a pool of N workers per tier) and none of its bugs that
would change the count.

    prior_art.py N TIERS RUNS_PER_TIER CMD [ARG...]
        "{tier}" and "{i}" in an ARG become the tier and the run's number.

Exit status: 0 when every agent exited 0, else 1; 2 for usage.
"""
import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor


def run_subtest(semaphore, argv):
    semaphore.acquire()
    try:
        return subprocess.run(argv, check=False).returncode
    finally:
        semaphore.release()


def run_tier(semaphore, jobs, tier, runs, command):
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = []
        for i in range(runs):
            argv = [w.replace("{tier}", str(tier)).replace("{i}", str(i)) for w in command]
            futures.append(pool.submit(run_subtest, semaphore, argv))
        return sum(1 for f in futures if f.result() != 0)


def main(argv):
    if len(argv) < 5:
        print("usage: prior_art.py N TIERS RUNS_PER_TIER CMD [ARG...]", file=sys.stderr)
        return 2
    jobs, tiers, runs = int(argv[1]), int(argv[2]), int(argv[3])
    command = argv[4:]
    with multiprocessing.Manager() as manager:
        semaphore = manager.Semaphore(jobs)
        with ThreadPoolExecutor(max_workers=tiers) as threads:
            failures = list(threads.map(
                lambda tier: run_tier(semaphore, jobs, tier, runs, command), range(tiers)))
    return 1 if sum(failures) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
