"""Compares a run of huggingface_hub's own tests with expected_failures.txt.

Usage: check.py [--partial] RESULTS.json EXPECTED.txt

RESULTS.json maps each test id to passed, failed, skipped or production (see
conftest.py). EXPECTED.txt lists the tests this hub is known not to pass, one
pattern per line (fnmatch, against the test id) followed by its reason. Exit
status 1 when a test outside the list failed or was skipped, or when a
listed pattern no longer matches any failing test, or a test listed by its
exact id passes (a fixed test leaves the list, so the list stays true).
With --partial (a run of some of the tests), entries matching no test are fine.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter


def read_expected(path: str) -> list[tuple[str, str]]:
    entries = []
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"{path}:{number}: '{pattern}' has no reason")
        entries.append((pattern, reason.strip()))
    return entries


def main() -> int:
    args = sys.argv[1:]
    partial = "--partial" in args
    args = [a for a in args if a != "--partial"]
    results: dict[str, str] = json.load(open(args[0], encoding="utf-8"))
    expected = read_expected(args[1])
    used: Counter[str] = Counter()
    unexpected, stale_passes = [], []
    counts: Counter[str] = Counter()
    for test, outcome in sorted(results.items()):
        pattern = next((p for p, _ in expected if fnmatch.fnmatchcase(test, p)), None)
        if outcome == "production":
            counts["needs huggingface.co (deselected)"] += 1
        elif outcome == "passed":
            counts["passed"] += 1
            # A group (a pattern with wildcards) may hold passing tests;
            # a test named exactly must fail.
            if pattern == test:
                stale_passes.append((test, pattern))
        elif pattern:
            counts["expected failures"] += 1
            used[pattern] += 1
        else:
            counts[f"unexpected {outcome}"] += 1
            unexpected.append((test, outcome))
    unused = [] if partial else [p for p, _ in expected if used[p] == 0]

    for test, outcome in unexpected:
        print(f"UNEXPECTED {outcome.upper()}: {test}")
    for test, pattern in stale_passes:
        print(f"PASSES, remove it from the list: {test} (matched by {pattern})")
    for pattern in unused:
        print(f"NO FAILING TEST MATCHES (stale entry): {pattern}")
    total = sum(counts.values())
    print(f"huggingface_hub's suite: {total} tests: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    wrong = len(unexpected) + len(stale_passes) + len(unused)
    # The line tests/run sums into its closing summary.
    print(f"hf-suite: {counts['passed']} passed, {wrong} failed")
    return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
