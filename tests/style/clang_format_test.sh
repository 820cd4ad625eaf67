#!/usr/bin/env bash
# Every C source and header of the project is clang-format clean against the
# committed .clang-format. Skips (77) where clang-format is not installed.
#   clang_format_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "SKIP: clang-format is not installed"
    exit 77
fi
# One clang-format process for all files: one per file took minutes on a
# loaded machine.
mapfile -d '' files < <(find include src tools examples tests bench -name '*.[ch]' -print0)
if ! report=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
    echo "not clang-format clean (run clang-format -i on them):"
    printf '%s\n' "$report" | grep -oE '^[^:]+\.[ch]' | sort -u | sed 's/^/  /'
    exit 1
fi
echo "clang-format: all ${#files[@]} C files are clean"
