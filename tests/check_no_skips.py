#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when a ctest JUnit report (ctest --output-junit) shows a test that did not really run.

Usage: check_no_skips.py REPORT.xml [ALLOWED_SKIPS.txt]

A problem is: a ctest test whose status is not "run" or "fail" (skipped, "Not Run",
disabled), a GoogleTest "[  SKIPPED ]" line in a test's output (the front-server entries
run many GoogleTest tests in one ctest test, so ctest never sees those), or a GoogleTest
run that selected no test ("0 tests from 0 test suites ran": a --gtest_filter that matches
nothing, e.g. after an instantiation was renamed). Names listed in ALLOWED_SKIPS.txt (one a
line, # comments) are let through; the list is empty on purpose.
"""
import re
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    report = sys.argv[1]
    allowed = set()
    if len(sys.argv) > 2:
        try:
            with open(sys.argv[2], encoding="utf-8") as f:
                allowed = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        except FileNotFoundError:
            pass
    try:
        root = ET.parse(report).getroot()
    except (ET.ParseError, FileNotFoundError) as e:
        print(f"check_no_skips: no readable JUnit report {report}: {e}")
        return 1
    problems = []
    cases = root.iter("testcase")
    count = 0
    for case in cases:
        count += 1
        name = case.get("name", "?")
        status = case.get("status", "run")
        out = "".join(e.text or "" for e in case.iter("system-out"))
        if name in allowed:
            continue
        if status not in ("run", "fail") or case.find("skipped") is not None:
            problems.append(f"{name}: ctest status '{status}' (skipped or not run)")
        for line in re.findall(r"^\[  SKIPPED \] (.+)$", out, re.M):
            skipped = line.split()[0]
            if skipped not in allowed and not re.match(r"^\d+ tests?, listed below", line):
                problems.append(f"{name}: GoogleTest skipped {skipped}")
        if re.search(r"\[==========\] 0 tests from 0 test suites ran", out):
            problems.append(f"{name}: GoogleTest ran 0 tests (a filter that matches nothing?)")
    if count == 0:
        problems.append("the report holds no test at all")
    for p in problems:
        print("check_no_skips: " + p)
    if problems:
        print(f"check_no_skips: {len(problems)} problem(s); see tests/README.md (no skips)")
        return 1
    print(f"check_no_skips: {count} ctest tests, none skipped, none empty")
    return 0


if __name__ == "__main__":
    sys.exit(main())
