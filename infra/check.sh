#!/usr/bin/env bash
# Static checks of infra/template.yaml: cfn-lint, `sam validate --lint`, checkov.
# Called by tests/run.sh (which installs the tools into .tools/); runs alone too once they are there.
# Exit status non-zero when any check fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${MOOVITAMIX_TOOLS:-$ROOT/.tools}
TEMPLATE=${1:-$ROOT/infra/template.yaml}
SAM_VENV=$TOOLS/venv-sam
CHECKOV_VENV=$TOOLS/venv-checkov

for tool in "$SAM_VENV/bin/cfn-lint" "$SAM_VENV/bin/sam" "$CHECKOV_VENV/bin/checkov"; do
    [[ -x $tool ]] || {
        echo "infra/check.sh: $tool is missing; run 'bash tests/run.sh' (it installs the tools into .tools/)" >&2
        exit 1
    }
done

# No network for telemetry or version checks, no prompts.
export SAM_CLI_TELEMETRY=0 SAM_CLI_CONTACT_TRACKING=0 AWS_REGION=${AWS_REGION:-us-east-1}
status=0

echo "--- cfn-lint $("$SAM_VENV/bin/cfn-lint" --version 2>&1 | awk '{print $2}')"
if "$SAM_VENV/bin/cfn-lint" "$TEMPLATE"; then
    echo "cfn-lint: no errors, no warnings"
else
    echo "cfn-lint: FAILED" >&2
    status=1
fi

echo "--- sam validate --lint ($("$SAM_VENV/bin/sam" --version 2>&1))"
if "$SAM_VENV/bin/sam" validate --lint -t "$TEMPLATE" --region us-east-1 2>&1; then
    :
else
    echo "sam validate: FAILED" >&2
    status=1
fi

echo "--- checkov $("$CHECKOV_VENV/bin/checkov" --version 2>&1)"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
# --skip-download: no network; checkov exits 1 when a check fails, its JSON says which.
"$CHECKOV_VENV/bin/checkov" -f "$TEMPLATE" --framework cloudformation --skip-download -o json >"$report" 2>/dev/null || true
if ! "$CHECKOV_VENV/bin/python" - "$report" <<'PY'; then
import json, sys

with open(sys.argv[1]) as f:
    text = f.read()
try:
    data = json.loads(text)
except ValueError:
    print("checkov produced no JSON report:\n" + text[:2000])
    sys.exit(1)
if isinstance(data, list):  # one report per framework
    data = next((d for d in data if d.get("check_type") == "cloudformation"), data[0])
summary = data["summary"]
results = data["results"]
print(f"checkov: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped, "
      f"{summary['parsing_errors']} parsing errors, {summary['resource_count']} resources")
for check in results.get("skipped_checks", []):
    reason = (check.get("check_result") or {}).get("suppress_comment") or ""
    print(f"  skipped {check['check_id']} on {check['resource']}: {reason.strip() or 'NO REASON GIVEN'}")
bad = False
for check in results.get("failed_checks", []):
    print(f"  FAILED {check['check_id']} ({check['check_name']}) on {check['resource']}")
    bad = True
for check in results.get("skipped_checks", []):
    if not ((check.get("check_result") or {}).get("suppress_comment") or "").strip():
        print(f"  skip of {check['check_id']} on {check['resource']} has no written reason")
        bad = True
if summary["parsing_errors"]:
    bad = True
sys.exit(1 if bad else 0)
PY
    echo "checkov: FAILED" >&2
    status=1
fi

exit $status
