#!/bin/sh
# Build llama-cpp-python (pinned in pyproject.toml) for this CPU once, keep the wheel, install it.
#
# Why not leave it to pip: llama.cpp compiles with -march=native, so a wheel is only good on a CPU
# with the same instruction sets, and pip's wheel cache does not know that (a cached wheel from
# another machine can die of SIGILL). Here the wheel is kept under a key made of the version, the
# build flags and this CPU's instruction sets, so a machine reuses only a wheel built for it.
#
# On x86_64 AMX is left out: ggml's AMX matrix multiply (taken for Q4_0, Q4_1, Q8_0, Q4_K... on
# CPUs that have AMX, Sapphire Rapids and later) loads an invalid tile configuration and dies of a
# general protection fault on the first prompt longer than one token (seen here with this pinned
# llama.cpp on a Xeon with amx_int8; upstream ggml-org/llama.cpp#20824, fix pending in #26954).
# AVX-512 and the rest of native stay. EDGETUI_LLAMA_CFLAGS replaces these flags.
#
#   sh scripts/llama-wheel.sh VENV_PYTHON
set -eu
py=$1
version=$(sed -n 's/^ *"llama-cpp-python==\([^"]*\)",.*/\1/p' pyproject.toml | head -n 1)
[ -n "$version" ] || { echo "llama-wheel: no llama-cpp-python==VERSION in pyproject.toml" >&2; exit 2; }
arch=$(uname -m)
case "$arch" in
    x86_64) default_flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" ;;
    *) default_flags="" ;;
esac
flags=${EDGETUI_LLAMA_CFLAGS-$default_flags}
isa=$(grep -m 1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || true)
key=$(printf '%s\n' "$version" "$arch" "$flags" "${CMAKE_ARGS:-}" "$isa" | sha256sum | cut -c 1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/edgetui/wheels/llama-cpp-python-$version-$key
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "llama-cpp-python $version: compiling for this CPU (about 5 minutes on 2 cores, once) -> $cache"
    mkdir -p "$cache.part"
    # --no-cache-dir: pip's cache may hold a wheel built elsewhere or with other flags
    CFLAGS="${CFLAGS:-} $flags" CXXFLAGS="${CXXFLAGS:-} $flags" \
        "$py" -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
        -w "$cache.part" "llama-cpp-python==$version"
    rm -rf "$cache" && mv "$cache.part" "$cache"
fi
"$py" -m pip install --quiet --no-deps --force-reinstall --no-index --find-links "$cache" "llama-cpp-python==$version"
