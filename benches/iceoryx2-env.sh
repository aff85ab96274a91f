#!/usr/bin/env bash
# Prints the environment iceoryx2's build needs (libclang for its bindgen step), fetching a
# libclang from PyPI into target/libclang when the machine has none. Use:
#
#   eval "$(benches/iceoryx2-env.sh)"
#   cargo bench -p benches --bench compare --features iceoryx2 -- h i
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib=""
for candidate in /usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
  if compgen -G "$candidate/libclang.so*" >/dev/null || compgen -G "$candidate/libclang-[0-9]*.so*" >/dev/null; then
    lib="$candidate"
    break
  fi
done
if [ -z "$lib" ]; then
  dest="$root/target/libclang"
  if [ ! -f "$dest/clang/native/libclang.so" ]; then
    mkdir -p "$dest"
    python3 -m pip download --quiet --no-deps --dest "$dest" "libclang==18.1.1" >&2
    python3 -m zipfile -e "$dest"/libclang-*.whl "$dest/wheel" >&2
    mkdir -p "$dest/clang/native"
    cp "$(find "$dest/wheel" -name libclang.so | head -1)" "$dest/clang/native/libclang.so"
  fi
  lib="$dest/clang/native"
fi
echo "export LIBCLANG_PATH='$lib'"
# bindgen needs the compiler's own headers (stddef.h): take gcc's.
gcc_include="$(dirname "$(gcc -print-libgcc-file-name)")/include"
echo "export BINDGEN_EXTRA_CLANG_ARGS='-I$gcc_include'"
