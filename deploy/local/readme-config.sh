#!/usr/bin/env bash
# Rewrite the README's configuration reference (between the BEGIN/END CONFIG REFERENCE markers)
# from the one configuration table: `bin/evfleet-worker --config-reference`.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${EVF_BIN:-bin}
ref=$("$BIN/evfleet-worker" --config-reference)
python3 - "$ref" <<'PY'
import sys, re
ref = sys.argv[1]
s = open("README.md").read()
begin, end = "<!-- BEGIN CONFIG REFERENCE -->", "<!-- END CONFIG REFERENCE -->"
i, j = s.index(begin) + len(begin), s.index(end)
open("README.md", "w").write(s[:i] + "\n" + ref.rstrip("\n") + "\n" + s[j:])
PY
echo "README.md configuration reference updated"
