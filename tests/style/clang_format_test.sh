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
unformatted=()
while IFS= read -r -d '' file; do
    clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(find include src tools examples tests bench -name '*.[ch]' -print0)
if [ ${#unformatted[@]} -gt 0 ]; then
    echo "not clang-format clean (run clang-format -i on them):"
    printf '  %s\n' "${unformatted[@]}"
    exit 1
fi
echo "clang-format: every C file is clean"
