#!/usr/bin/env bash
# Starts and stops LocalStack's core (S3 + CloudWatch) on 127.0.0.1:4566 for the AWS-backed tests, without Docker.
#
#   tests/localstack.sh install   create .tools/venv-localstack (Python 3.12+, pinned, see shared/LOCAL_AWS.md)
#   tests/localstack.sh start     start it (or reuse one already answering on the port) and wait until healthy
#   tests/localstack.sh stop      stop the instance this script started: SIGTERM, ~5 s, SIGKILL; remove its S3 storage
#   tests/localstack.sh status    exit 0 if something healthy answers on the port
#
# Environment: MOOVITAMIX_TOOLS (default <repo>/.tools), LOCALSTACK_PORT (default 4566).
# State lives in $MOOVITAMIX_TOOLS/localstack/: pid file, log, FILESYSTEM_ROOT, caches and its temporary folder.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${MOOVITAMIX_TOOLS:-$ROOT/.tools}
PORT=${LOCALSTACK_PORT:-4566}
HOST=127.0.0.1
VENV=$TOOLS/venv-localstack
STATE=$TOOLS/localstack
PIDFILE=$STATE/localstack.pid
LOG=$STATE/localstack.log
HEALTH_URL="http://$HOST:$PORT/_localstack/health"

# Each pin fixes a real break (shared/LOCAL_AWS.md); changing this list reinstalls the venv.
LOCALSTACK_REQUIREMENTS=('localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl<26' 'cryptography<47' 'service_identity')

log() { printf '[localstack] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The health endpoint answers with JSON naming the services; anything else on the port is not ours to use.
healthy() {
    local body
    body=$(curl -fsS --max-time 2 "$HEALTH_URL" 2>/dev/null) || return 1
    [[ $body == *'"services"'* ]]
}

port_busy() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

# LOCAL_AWS.md names $(pyenv root)/versions/3.12.1 first, but localstack-core 2026.3.0 imports
# `warnings.deprecated`, which only Python 3.13+ has (on 3.12 it fails with "No component plugins found").
# So each candidate must be 3.12+ *and* pass that probe; the first one that does is used.
find_python() {
    local candidates=() root=""
    if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); fi
    [[ -n $root ]] && candidates+=("$root/versions/3.12.1/bin/python3")
    candidates+=(python3.12)
    if [[ -n $root ]]; then
        local v
        for v in "$root"/versions/3.1[2-9]*/bin/python3; do [[ -x $v ]] && candidates+=("$v"); done
    fi
    candidates+=(python3.13 python3.14 python3)
    local py path seen=" "
    for py in "${candidates[@]}"; do
        path=$(command -v "$py" 2>/dev/null) || continue
        [[ $seen == *" $path "* ]] && continue
        seen+="$path "
        if ! "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            continue
        fi
        if ! "$path" -c 'from warnings import deprecated' 2>/dev/null; then
            log "skipping $path ($("$path" --version 2>&1)): no warnings.deprecated, which localstack-core 2026.3.0 needs"
            continue
        fi
        echo "$path"
        return 0
    done
    return 1
}

cmd_install() {
    local stamp=$VENV/.moovitamix-requirements want
    want=$(printf '%s\n' "${LOCALSTACK_REQUIREMENTS[@]}")
    if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]] &&
        "$VENV/bin/python" -c 'from warnings import deprecated' 2>/dev/null; then
        log "venv up to date: $VENV"
        return 0
    fi
    local py
    py=$(find_python) || die "LocalStack needs Python 3.12+ with warnings.deprecated (in practice 3.13+) and none was found (tried \$(pyenv root)/versions/3.1[2-9]*, python3.12, python3.13, python3.14, python3). Install one, e.g. 'pyenv install 3.13.0'."
    log "creating $VENV with $py ($("$py" --version 2>&1))"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
    "$VENV/bin/pip" install -q "${LOCALSTACK_REQUIREMENTS[@]}"
    "$VENV/bin/python" -c 'import localstack.aws.components' ||
        die "LocalStack installed in $VENV but its runtime does not import (see the error above)"
    printf '%s' "$want" >"$stamp"
}

our_pid() {
    [[ -f $PIDFILE ]] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
        return 0
    fi
    rm -f "$PIDFILE"
    return 1
}

cmd_start() {
    if healthy; then
        if pid=$(our_pid); then
            log "reusing the LocalStack this script started earlier (pid $pid) on $HOST:$PORT"
        else
            log "reusing the LocalStack already running on $HOST:$PORT (not started by this script; it will be left running)"
        fi
        return 0
    fi
    if port_busy; then
        die "port $PORT is in use by something that is not a healthy LocalStack; free it or set LOCALSTACK_PORT"
    fi
    [[ -x $VENV/bin/python ]] || die "$VENV is missing: run 'tests/localstack.sh install' first"
    command -v curl >/dev/null || die "curl is needed to poll LocalStack's health endpoint"

    mkdir -p "$STATE/fs" "$STATE/cache" "$STATE/tmp"
    log "starting LocalStack on $HOST:$PORT (log: $LOG)"
    # set -m: the job gets its own process group (id = its pid), so stop can end it and its children by that one id.
    set -m
    GATEWAY_LISTEN="$HOST:$PORT" \
        GATEWAY_SERVER=hypercorn \
        SERVICES=s3,cloudwatch \
        DISABLE_EVENTS=1 \
        SKIP_SSL_CERT_DOWNLOAD=1 \
        DNS_ADDRESS=0 \
        OVERRIDE_IN_DOCKER=0 \
        FILESYSTEM_ROOT="$STATE/fs" \
        XDG_CACHE_HOME="$STATE/cache" \
        TMPDIR="$STATE/tmp" \
        "$VENV/bin/python" -m localstack.runtime.main </dev/null >"$LOG" 2>&1 &
    local pid=$!
    set +m
    echo "$pid" >"$PIDFILE"

    local deadline=$((SECONDS + ${LOCALSTACK_START_TIMEOUT:-90}))
    until healthy; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            log "LocalStack exited during start-up; last lines of its log:"
            tail -n 40 "$LOG" >&2 || true
            exit 1
        fi
        if ((SECONDS > deadline)); then
            log "LocalStack not healthy after ${LOCALSTACK_START_TIMEOUT:-90} s; last lines of its log:"
            tail -n 40 "$LOG" >&2 || true
            cmd_stop
            exit 1
        fi
        sleep 0.5
    done
    log "healthy (pid $pid)"
}

cmd_stop() {
    local pid
    if ! pid=$(our_pid); then
        log "no LocalStack started by this script is running"
    else
        log "stopping pid $pid (SIGTERM)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "still running after 5 s: SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$PIDFILE"
    fi
    # Its S3 data goes to <TMPDIR>/localstack-s3-storage; TMPDIR was ours.
    rm -rf "$STATE/tmp/localstack-s3-storage"
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) healthy ;;
*)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
