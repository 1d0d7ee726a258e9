#!/usr/bin/env bash
# Prints the path of the Python that builds the Lambda package and runs the tests: the version in
# .python-version (the Lambda runtime, deploy/package.py reads the same file), on PATH or pyenv's.
set -euo pipefail
want=$(tr -d '[:space:]' < "$(dirname "$0")/../.python-version")
candidates=("python$want")
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for dir in "$root"/versions/"$want"*/bin; do candidates+=("$dir/python$want"); done
for candidate in "${candidates[@]}"; do
  if path=$(command -v "$candidate") && "$path" -c 'import sys' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
echo "find_python: Python $want (the Lambda runtime, .python-version) is not installed;" \
     "install it (e.g. pyenv install $want) or run make with PYTHON=/path/to/python$want" >&2
exit 1
