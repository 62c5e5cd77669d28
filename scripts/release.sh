#!/usr/bin/env bash
# Release binaries with their symbols kept in separate files (issue #19).
#
# `cargo build --release` alone yields stripped binaries (the release profile's `strip`). This
# script relinks the two hosts unstripped (`cargo rustc … -C strip=none`: the libraries are
# compiled with line tables either way, so only the binary crates are rebuilt), then splits each
# into a stripped binary and a `.debug` file joined by a GNU debuglink (gdb, perf and addr2line
# find the symbols when the `.debug` file sits next to the binary or in /usr/lib/debug).
#
# Usage: scripts/release.sh [OUT_DIR]   (default: dist/)
set -euo pipefail
OUT="${1:-dist}"
TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$OUT"
for bin in medilink-server medilink-worker; do
  cargo rustc --release -p "$bin" --bin "$bin" -- -C strip=none
  cp "$TARGET/release/$bin" "$OUT/$bin"
  objcopy --only-keep-debug "$OUT/$bin" "$OUT/$bin.debug"
  objcopy --strip-all --add-gnu-debuglink="$OUT/$bin.debug" "$OUT/$bin"
  ls -l "$OUT/$bin" "$OUT/$bin.debug"
done
