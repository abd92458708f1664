#!/usr/bin/env bash
# The dashboard's whole check: npm ci, type-check, build, Vitest (component and logic
# tests), then the Playwright acceptance tests (playwright-core + Debian Chromium)
# against a real devhost. Ends with one plain "N passed, N failed" line.
#
#   web/scripts/test.sh            everything
#   web/scripts/test.sh --no-e2e   without the browser tests
#
# Needs: Node >= 20 with npm; for e2e also the repo's .venv (the devhost) and
# /usr/bin/chromium (apt-get install -y chromium) or HALYARD_CHROMIUM.
set -uo pipefail

WEB="$(cd "$(dirname "$0")/.." && pwd)"
cd "$WEB"
REPORTS="$(mktemp -d)"
trap 'rm -rf "$REPORTS"' EXIT
RUN_E2E=1
[[ "${1:-}" == "--no-e2e" ]] && RUN_E2E=0

passed=0
failed=0
step_failed() { echo "FAILED: $1" >&2; failed=$((failed + 1)); }

# Adds a Vitest JSON report's counts to the totals (a missing report counts as one failure).
count() {
  local report="$1" label="$2" counts
  if [[ ! -s "$report" ]]; then step_failed "$label (no report)"; return; fi
  counts="$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const failedSuites = (r.testResults || []).filter((s) => s.status === "failed" && (s.assertionResults || []).length === 0).length;
    console.log(`${r.numPassedTests} ${r.numFailedTests + failedSuites}`);
  ' "$report")"
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
  echo "$label: ${counts% *} passed, ${counts#* } failed"
}

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error || { step_failed "npm ci"; echo "$passed passed, $failed failed"; exit 1; }

echo "== type-check"
npx tsc --noEmit -p tsconfig.json || step_failed "type-check"

echo "== build (web/dist)"
if ! npx vite build --logLevel warn; then
  step_failed "build"
  RUN_E2E=0
fi

echo "== vitest"
npx vitest run --config vitest.config.ts --reporter=dot --reporter=json --outputFile="$REPORTS/unit.json"
count "$REPORTS/unit.json" "vitest"

if [[ "$RUN_E2E" == 1 ]]; then
  echo "== e2e (Chromium against a real devhost)"
  if [[ ! -x "${HALYARD_CHROMIUM:-/usr/bin/chromium}" ]]; then
    step_failed "e2e: no Chromium at ${HALYARD_CHROMIUM:-/usr/bin/chromium} (apt-get install -y chromium)"
  else
    npx vitest run --config vitest.e2e.config.ts --reporter=default --reporter=json --outputFile="$REPORTS/e2e.json"
    count "$REPORTS/e2e.json" "e2e"
  fi
fi

echo "$passed passed, $failed failed"
[[ "$failed" == 0 ]]
