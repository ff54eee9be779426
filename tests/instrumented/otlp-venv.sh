#!/usr/bin/env bash
# The venv for tests/instrumented/otlp_scenario.py: the OpenTelemetry Python SDK with its
# OTLP exporters (HTTP and gRPC) from PyPI, installed into target/otlp-venv when missing
# or when otlp-requirements.txt changed. Used by tests/otlp.rs (broker-tests) and .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${OTLP_VENV:-$repo/target/otlp-venv}"
python="${PYTHON:-python3}"
req="$here/otlp-requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
# One installer at a time (the HTTP and gRPC tests run in parallel).
exec 9>"$repo/target/.otlp-venv.lock"
flock 9
if [[ ! -x "$venv/bin/python" ]]; then
  echo "otlp-venv.sh: creating venv $venv" >&2
  "$python" -m venv "$venv"
fi
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  echo "otlp-venv.sh: pip install -r $req" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  "$venv/bin/pip" check >&2
  echo "$want" > "$stamp"
fi
