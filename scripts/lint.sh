#!/bin/sh
# Static analysis of the tree (make lint, a gate of make test): cppcheck's
# warning, portability and performance checks; any finding fails. False
# positives are suppressed in the code with `// cppcheck-suppress <id>` on the
# line, and a comment saying why. First the include graph
# (scripts/include_graph.py: layers, no circle between platform modules,
# platform files of at most 900 lines), after its self-test shows that each
# of its rules still fails on a tree made to break it.
set -eu
cd "$(dirname "$0")/.."
python3 scripts/include_graph.py --self-test >/dev/null
python3 scripts/include_graph.py
exec cppcheck -q --std=c11 --enable=warning,portability,performance \
	--library=scripts/cppcheck/jansson.cfg --inline-suppr \
	--suppress=missingIncludeSystem --max-configs=1 -D_GNU_SOURCE -Isrc \
	--error-exitcode=1 -j "${JOBS:-2}" src tests/unit tests/integration tests/fuzz tests/tools bench
