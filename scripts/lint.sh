#!/bin/sh
# Static analysis of the tree (make lint, a gate of make test): cppcheck's
# warning, portability and performance checks; any finding fails. False
# positives are suppressed in the code with `// cppcheck-suppress <id>` on the
# line, and a comment saying why.
set -eu
cd "$(dirname "$0")/.."
exec cppcheck -q --std=c11 --enable=warning,portability,performance \
	--library=scripts/cppcheck/jansson.cfg --inline-suppr \
	--suppress=missingIncludeSystem --max-configs=1 -D_GNU_SOURCE -Isrc \
	--error-exitcode=1 -j "${JOBS:-2}" src tests/unit tests/integration tests/fuzz tests/tools bench
