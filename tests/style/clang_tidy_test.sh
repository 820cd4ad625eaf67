#!/usr/bin/env bash
# Every C file the build compiles passes clang-tidy-14 with the committed
# .clang-tidy. Skips (77) where clang-tidy-14 is not installed.
#   clang_tidy_test.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
source_dir=$1
binary_dir=$2
tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$tidy" ]; then
    echo "SKIP: clang-tidy-14 is not installed (scripts/bootstrap installs it)"
    exit 77
fi
if [ ! -f "$binary_dir/compile_commands.json" ]; then
    echo "SKIP: no $binary_dir/compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS)"
    exit 77
fi
cd "$source_dir"
# Project sources only (not generated code under the build tree).
mapfile -t files < <(python3 - "$binary_dir/compile_commands.json" "$source_dir" <<'PY'
import json, os, sys
entries = json.load(open(sys.argv[1]))
root = os.path.realpath(sys.argv[2])
seen = set()
for entry in entries:
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if path.startswith(root + "/") and "/build" not in path[len(root):] and path not in seen:
        seen.add(path)
        print(path)
PY
)
# Compiler warnings are gcc's job (-Werror in every build); clang's own set
# differs, so only the clang-tidy checks count here.
jobs=$(nproc 2>/dev/null || echo 2)
if ! report=$(printf '%s\0' "${files[@]}" |
              xargs -0 -n 8 -P "$jobs" "$tidy" -p "$binary_dir" --quiet \
                  --extra-arg=-Wno-everything 2>/dev/null); then
    echo "clang-tidy found problems (checks in .clang-tidy):"
    printf '%s\n' "$report" | grep -E 'warning:|error:' | sed "s|$source_dir/||" | sort -u
    exit 1
fi
echo "clang-tidy: all ${#files[@]} C files pass"
