#!/usr/bin/env bash
# Install everything the tests need into .venv (and Debian's Chromium when root), then run
# every test. The README's test command and CI both run this script.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "== no chromium and not root: browser tests will skip (run: sudo apt-get install chromium)"
  fi
fi

if ! command -v "${CXX:-g++}" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing g++: workers build lrviz's TensorFlow kernel with it (lrviz/kernels.py)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
  else
    echo "== no C++ compiler and not root: training fails until one is installed (run: sudo apt-get install g++)"
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "== installing Python packages"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt -e .

echo "== running tests"
# pytest exits 5 when no test ran: that fails here too.
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
