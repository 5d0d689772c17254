#!/usr/bin/env python3
"""Fails on a wall-clock upper bound in a test: `time.time() - t < 2`,
`took < 5`, `ms_since(t0) < 1000`. A loaded host (another test run beside
this one, ASan) is slow, not wrong, so a test checks what such a bound stood
for (docs/SECURITY.md "Tests share the host") and speed is measured in
bench/. Allowed: lower bounds (a slow host only adds to them) and deadlock
guards named as such (a name with LIVENESS, DEADLINE or deadline in it)."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CLOCK = r"(?:time\.time\(\)|time\.monotonic(?:_ns)?\(\)|time\.perf_counter\(\)|ms_since\([^)]*\))"
BOUNDS = [
    re.compile(CLOCK + r"\s*-\s*\w+\s*<=?\s*[\d.]"),  # time.time() - t < 2
    re.compile(r"ms_since\([^)]*\)\s*<=?\s*[\d.]"),  # ms_since(t0) < 1000
    re.compile(r"\b(?:took|elapsed|worst|latency)\w*\s*<=?\s*[\d.]"),  # took < 5
]


def main():
    found = []
    for sub in ("e2e", "integration", "unit"):
        base = os.path.join(ROOT, sub)
        for name in sorted(os.listdir(base)):
            if not name.endswith((".py", ".c")):
                continue
            path = os.path.join(base, name)
            with open(path, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    code = line.split("#")[0] if name.endswith(".py") else line
                    if any(b.search(code) for b in BOUNDS):
                        found.append(f"tests/{sub}/{name}:{n}: {line.strip()}")
    for f in found:
        print(f"a wall-clock bound in a test (check the property, time it in bench/): {f}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
