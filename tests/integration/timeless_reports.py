"""Compares the report.json files of two results directories but for timings
(durations, *_at timestamps, times): a resumed experiment must end with the
same results as an uninterrupted one. Imported by the resume tests."""

import json
import os


def timeless(value):
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items()
                if not (k.startswith("duration") or k.endswith("_at") or k == "time")}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def compare_reports(mine_dir, ref_dir, problems):
    """Appends a line to `problems` for each report.json of `ref_dir` missing
    from `mine_dir` or different there; returns how many were compared."""
    compared = 0
    for root, _, files in os.walk(ref_dir):
        if "report.json" not in files:
            continue
        rel = os.path.relpath(os.path.join(root, "report.json"), ref_dir)
        mine = os.path.join(mine_dir, rel)
        if not os.path.exists(mine):
            problems.append(f"{rel}: in the reference only")
            continue
        compared += 1
        with open(mine) as a, open(os.path.join(ref_dir, rel)) as b:
            if timeless(json.load(a)) != timeless(json.load(b)):
                problems.append(f"{rel} differs from the uninterrupted run's")
    return compared
