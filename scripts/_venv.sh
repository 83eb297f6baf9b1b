# Sourced by scripts/demo and scripts/test: create .venv (if needed) and install crowdwatch into it.
# Usage: ensure_venv [EXTRAS]   e.g. ensure_venv "[dev]"
ensure_venv() {
    local py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "crowdwatch needs Python >= 3.11 (set PYTHON=/path/to/python3.11+)" >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv || {
            echo "could not create .venv (on Debian/Ubuntu: apt install python3-venv)" >&2
            exit 1
        }
    fi
    local stamp=".venv/.crowdwatch-installed$1"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1"
        touch "$stamp"
    fi
}
