#!/usr/bin/env bash
# The test command of MooVitamix: `bash tests/run.sh` (CI runs it through .ci/run).
#
# On a bare machine it installs what it needs into .tools/ (git-ignored), starts LocalStack on
# 127.0.0.1:4566, runs every Rust test (the AWS-backed and cargo-lambda ones included), checks the
# SAM template (cfn-lint, sam validate --lint, checkov), and builds the Lambda functions for arm64.
# A second run reuses .tools/ and target/ and is fast. Any failure exits non-zero.
#
# Sections (each printed with its elapsed time):
#   1 tools     pip venvs and Debian's chromium started in the background (cargo-lambda+zig, LocalStack, SAM+cfn-lint, checkov, DuckDB); rustup target
#   2 build     test binaries and the functions' debug binaries (what `cargo lambda watch` runs)
#   3 localstack
#   4 tests     cargo test --workspace --all-features
#   5 infra     infra/check.sh
#   6 lambda    cargo lambda build --release --arm64 of each function, with binary sizes
#
# Knobs: MOOVITAMIX_SKIP_LAMBDA_BUILD=1 skips section 6 (local iterations only; CI always builds).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=$ROOT/.tools
LOGS=$TOOLS/logs
export MOOVITAMIX_TOOLS=$TOOLS
mkdir -p "$LOGS"

# Pinned so that CI is reproducible; bump deliberately (and re-run) when needed.
LAMBDA_REQUIREMENTS=('cargo-lambda==1.9.2' 'ziglang==0.17.1')
SAM_REQUIREMENTS=('aws-sam-cli==1.170.0' 'cfn-lint==1.58.0')
CHECKOV_REQUIREMENTS=('checkov==3.3.30')
# The independent Parquet reader of the transform tests and benchmark.
READER_REQUIREMENTS=('duckdb==2.0.0')
ARM_TARGET=aarch64-unknown-linux-gnu

# ------------------------------------------------------------------------------------------------
# Sections, timings, clean-up
# ------------------------------------------------------------------------------------------------
RUN_START=$EPOCHREALTIME
SECTION=""
SECTION_START=""
SUMMARY=()
declare -A BG_PIDS=()
LOCALSTACK_STARTED=0

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

section() {
    end_section
    SECTION=$1
    SECTION_START=$EPOCHREALTIME
    printf '\n\033[1m==== %s ====\033[0m\n' "$SECTION"
}

end_section() {
    [[ -n $SECTION ]] || return 0
    local took
    took=$(elapsed "$SECTION_START")
    SUMMARY+=("$(printf '  %-52s %8ss' "$SECTION" "$took")")
    printf -- '---- %s: %ss\n' "$SECTION" "$took"
    SECTION=""
}

fail() {
    printf '\n\033[1;31mFAILED\033[0m in section "%s": %s\n' "${SECTION:-setup}" "$*" >&2
    exit 1
}

cleanup() {
    local status=$?
    set +e
    if [[ -n $SECTION ]]; then
        SUMMARY+=("$(printf '  %-52s %8ss  (%s)' "$SECTION" "$(elapsed "$SECTION_START")" "$([[ $status == 0 ]] && echo done || echo FAILED)")")
    fi
    local name
    for name in "${!BG_PIDS[@]}"; do
        kill "${BG_PIDS[$name]}" 2>/dev/null
    done
    if [[ $LOCALSTACK_STARTED == 1 ]]; then
        bash "$ROOT/tests/localstack.sh" stop
    fi
    printf '\n==== summary ====\n'
    printf '%s\n' "${SUMMARY[@]}"
    printf '  %-52s %8ss\n' "total" "$(elapsed "$RUN_START")"
    if [[ $status == 0 ]]; then
        printf '\033[1;32mtests/run.sh: all passed\033[0m\n'
    else
        printf '\033[1;31mtests/run.sh: FAILED (exit %s)\033[0m\n' "$status"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------------------------
# Python tools: one venv each, reinstalled only when its requirement list changes
# ------------------------------------------------------------------------------------------------
install_venv() { # <venv dir> <python> <requirement>...
    local venv=$1 python=$2
    shift 2
    local stamp=$venv/.moovitamix-requirements want
    want=$(printf '%s\n' "$@")
    if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
        echo "up to date: $venv"
        return 0
    fi
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q "$@"
    printf '%s' "$want" >"$stamp"
    echo "installed: $venv"
}

start_background() { # <name> <command>...
    local name=$1
    shift
    "$@" >"$LOGS/$name.log" 2>&1 &
    BG_PIDS[$name]=$!
}

wait_background() { # <name>
    local name=$1 pid=${BG_PIDS[$1]:-}
    [[ -n $pid ]] || return 0
    local t0=$EPOCHREALTIME
    if wait "$pid"; then
        unset "BG_PIDS[$name]"
        printf '%s ready (waited %ss): %s\n' "$name" "$(elapsed "$t0")" "$(tail -n 1 "$LOGS/$name.log")"
    else
        unset "BG_PIDS[$name]"
        echo "---- $LOGS/$name.log ----" >&2
        tail -n 60 "$LOGS/$name.log" >&2
        fail "installing $name failed (log above)"
    fi
}

ensure_python_venv() {
    command -v python3 >/dev/null || fail "python3 is needed to install the tools (cargo-lambda, cfn-lint, SAM CLI, checkov)"
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        # Debian's python3 ships venv/ensurepip separately; the only apt step, and only when needed.
        command -v apt-get >/dev/null || fail "python3 lacks the venv module and apt-get is not available"
        echo "python3 lacks venv/ensurepip: installing python3-venv with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null ||
            fail "apt-get install python3-venv failed"
    fi
}

# Headless Chromium renders the HTML report in tests/e2e/report.rs: Debian's package, installed
# only when missing.
install_chromium() {
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
        echo "chromium: $(chromium --version 2>/dev/null || chromium-browser --version)"
        return 0
    fi
    command -v apt-get >/dev/null || { echo "chromium is missing and apt-get is not available" >&2; return 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null &&
        echo "installed: $(chromium --version)"
}

# ------------------------------------------------------------------------------------------------
section "1 tools: Python venvs (background), rustup target"
# ------------------------------------------------------------------------------------------------
for tool in cargo rustup curl; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
ensure_python_venv
echo "cargo $(cargo --version | awk '{print $2}'), python3 $(python3 --version | awk '{print $2}')"
start_background venv-lambda install_venv "$TOOLS/venv-lambda" python3 "${LAMBDA_REQUIREMENTS[@]}"
start_background venv-localstack bash "$ROOT/tests/localstack.sh" install
start_background venv-sam install_venv "$TOOLS/venv-sam" python3 "${SAM_REQUIREMENTS[@]}"
start_background venv-checkov install_venv "$TOOLS/venv-checkov" python3 "${CHECKOV_REQUIREMENTS[@]}"
start_background venv-readers install_venv "$TOOLS/venv-readers" python3 "${READER_REQUIREMENTS[@]}"
start_background chromium install_chromium
echo "pip installs and chromium running in the background (logs in $LOGS/venv-*.log, $LOGS/chromium.log)"
if rustup target list --installed | grep -qx "$ARM_TARGET"; then
    echo "rustup target $ARM_TARGET: installed"
else
    rustup target add "$ARM_TARGET" || fail "rustup target add $ARM_TARGET"
fi

# The function packages: workspace members under functions/ (transform and recommend join when they exist).
mapfile -t FUNCTION_PACKAGES < <(
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, os, sys
root = os.path.join(sys.argv[1], "functions") + os.sep
for p in json.load(sys.stdin)["packages"]:
    if p["manifest_path"].startswith(root):
        print(p["name"])
' "$ROOT"
) || fail "cargo metadata"
[[ ${#FUNCTION_PACKAGES[@]} -gt 0 ]] || fail "no function packages found under functions/"
echo "functions: ${FUNCTION_PACKAGES[*]}"

# ------------------------------------------------------------------------------------------------
section "2 build: test binaries, functions' debug binaries"
# ------------------------------------------------------------------------------------------------
cargo test --workspace --all-features --no-run || fail "building the tests"
# The build `cargo lambda watch` runs on a first invoke (`cargo run --bin <fn>` at the root, see
# tests/src/lambda.rs), so that the cargo-lambda tests find it done instead of starting a cold
# build under their timeout.
bin_args=()
for package in "${FUNCTION_PACKAGES[@]}"; do bin_args+=(--bin "$package"); done
cargo build "${bin_args[@]}" || fail "building the functions (debug)"

# ------------------------------------------------------------------------------------------------
section "3 localstack: loopback S3 + CloudWatch on 127.0.0.1:4566"
# ------------------------------------------------------------------------------------------------
wait_background venv-localstack
if ! bash tests/localstack.sh status; then
    LOCALSTACK_STARTED=1
fi
bash tests/localstack.sh start || fail "starting LocalStack (log: $TOOLS/localstack/localstack.log)"
export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export MOOVITAMIX_TEST_AWS=1

# ------------------------------------------------------------------------------------------------
section "4 tests: cargo test --workspace --all-features"
# ------------------------------------------------------------------------------------------------
wait_background venv-lambda
wait_background venv-readers
wait_background chromium
export MOOVITAMIX_PYTHON=$TOOLS/venv-readers/bin/python
export PATH="$TOOLS/venv-lambda/bin:$PATH"
echo "$(cargo lambda --version)"
test_status=0
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee "$LOGS/cargo-test.log" || test_status=$?
printf '\n-- cargo test summary (%s) --\n' "$LOGS/cargo-test.log"
grep -E '^\s+Running |^test result:|^\s+Doc-tests ' "$LOGS/cargo-test.log" | sed -E 's/^\s+//' || true
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
     END { printf "total: %d passed, %d failed, %d ignored\n", p, f, g }' "$LOGS/cargo-test.log"
[[ $test_status == 0 ]] || fail "cargo test failed (see the failures above and $LOGS/cargo-test.log)"

# ------------------------------------------------------------------------------------------------
section "5 infra: cfn-lint, sam validate --lint, checkov"
# ------------------------------------------------------------------------------------------------
wait_background venv-sam
wait_background venv-checkov
bash infra/check.sh || fail "infra/check.sh"

# ------------------------------------------------------------------------------------------------
section "6 lambda: cargo lambda build --release --arm64"
# ------------------------------------------------------------------------------------------------
if [[ ${MOOVITAMIX_SKIP_LAMBDA_BUILD:-0} == 1 && ${CI:-} != true ]]; then
    echo "skipped (MOOVITAMIX_SKIP_LAMBDA_BUILD=1)"
else
    package_args=()
    for package in "${FUNCTION_PACKAGES[@]}"; do package_args+=(-p "$package"); done
    # zig keeps its caches under XDG_CACHE_HOME: inside .tools/, not in ~/.cache.
    XDG_CACHE_HOME="$TOOLS/cache" cargo lambda build --release --arm64 "${package_args[@]}" ||
        fail "cargo lambda build --release --arm64"
    echo
    for package in "${FUNCTION_PACKAGES[@]}"; do
        bootstrap=target/lambda/$package/bootstrap
        [[ -f $bootstrap ]] || fail "$bootstrap was not built"
        size=$(stat -c %s "$bootstrap")
        printf '  %-12s %s  %s bytes (%s MiB)  %s\n' "$package" "$bootstrap" "$size" \
            "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')" "$(file -b "$bootstrap" 2>/dev/null | cut -d, -f1-2)"
    done
fi
end_section
