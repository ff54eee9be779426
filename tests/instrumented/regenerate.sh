#!/usr/bin/env bash
# Regenerate the instrumented fixtures in tests/fixtures/instrumented/ from real
# OpenTelemetry instrumentation against the local RabbitMQ (127.0.0.1:5672) and
# Redis (127.0.0.1:6379). Idempotent: installs only what is missing or changed.
#
#   bash tests/instrumented/regenerate.sh            # install if needed, regenerate all
#   SKIP_NODE=1 bash tests/instrumented/regenerate.sh  # Python fixtures only
#
# Environment: INSTR_VENV (default target/instrumented-venv), PYTHON (default python3),
# INSTR_OUT (default tests/fixtures/instrumented; the broker tests write elsewhere).
set -euo pipefail

start=$(date +%s.%N)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${INSTR_OUT:-$repo/tests/fixtures/instrumented}"
venv="${INSTR_VENV:-$repo/target/instrumented-venv}"
python="${PYTHON:-python3}"

elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
fail() { echo "regenerate.sh: $*" >&2; echo "regenerate.sh: failed after $(elapsed) s" >&2; exit 1; }
trap 'fail "command failed (line $LINENO)"' ERR

# ---------------------------------------------------------------- brokers up?
for hp in 127.0.0.1:5672 127.0.0.1:6379; do
  if ! (exec 3<>"/dev/tcp/${hp%:*}/${hp#*:}") 2>/dev/null; then
    case $hp in
      *:5672) fail "RabbitMQ is not listening on $hp (start it: rabbitmq-server -detached)";;
      *) fail "Redis is not listening on $hp (start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no)";;
    esac
  fi
done

# --------------------------------------------------------------- Python deps
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "regenerate.sh: creating venv $venv"
  "$python" -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  echo "regenerate.sh: pip install -r $req"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  "$venv/bin/pip" check
  echo "$want" > "$stamp"
fi

# ------------------------------------------------------------------ Node deps
node_dir="$here/node"
if [[ -z "${SKIP_NODE:-}" ]]; then
  command -v node >/dev/null || fail "node not found (set SKIP_NODE=1 to skip the Node fixtures)"
  nstamp="$node_dir/node_modules/.package-lock.sha256"
  nwant="$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)"
  if [[ "$(cat "$nstamp" 2>/dev/null || true)" != "$nwant" ]]; then
    echo "regenerate.sh: npm ci in $node_dir"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$nwant" > "$nstamp"
  fi
fi
install_done=$(elapsed)
echo "regenerate.sh: dependencies ready after ${install_done} s"

# ---------------------------------------------------------------- scenarios
mkdir -p "$out"
check() { "$venv/bin/python" "$here/ground_truth.py" --check "$out/$1.truth.json" "$2" || fail "$1: structure differs from the scenario"; }

"$venv/bin/python" "$here/python_scenario.py" --out "$out" --name python-pika-redis-http
check python-pika-redis-http child_of_producer
OTEL_SEMCONV_STABILITY_OPT_IN=http,database \
  "$venv/bin/python" "$here/python_scenario.py" --out "$out" --name python-pika-redis-http-stable-semconv
check python-pika-redis-http-stable-semconv child_of_producer

if [[ -z "${SKIP_NODE:-}" ]]; then
  PYTHON="$venv/bin/python" node "$node_dir/node_scenario.js" --out "$out" --name node-amqplib-http
  check node-amqplib-http child_of_producer
  PYTHON="$venv/bin/python" node "$node_dir/node_scenario.js" --out "$out" --name node-amqplib-http-links --links
  check node-amqplib-http-links linked_to_producer
fi

trap - ERR
echo "regenerate.sh: done in $(elapsed) s (install/check ${install_done} s); fixtures in ${out#"$repo"/}"
