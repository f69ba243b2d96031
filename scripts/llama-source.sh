#!/bin/sh
# Keep a few files of llama-cpp-python's source (the version pinned in pyproject.toml) in the user
# cache, as the models are kept: llama.cpp's own scripts/compare-llama-bench.py, which a test runs
# on edgetui's llama-bench exports, with the llama-bench source and the changelog that say which
# fields it writes and which llama.cpp is vendored (edgetui.ranking.llamabench). Fetched once with
# pip (the sdist: 77 MB, a few minutes while pip prepares its metadata); without a network this
# says so and that test is skipped with the reason.
#
#   sh scripts/llama-source.sh VENV_PYTHON
set -eu
py=$1
version=$(sed -n 's/^ *"llama-cpp-python==\([^"]*\)",.*/\1/p' pyproject.toml | head -n 1)
[ -n "$version" ] || { echo "llama-source: no llama-cpp-python==VERSION in pyproject.toml" >&2; exit 2; }
dest=${XDG_CACHE_HOME:-$HOME/.cache}/edgetui/sources/llama-cpp-python-$version
top=llama_cpp_python-$version
[ -f "$dest/vendor/llama.cpp/scripts/compare-llama-bench.py" ] && exit 0
mkdir -p "$dest.part"
if [ ! -f "$dest.part/$top.tar.gz" ]; then
    echo "llama-cpp-python $version: fetching its source for the llama-bench export test -> $dest"
    if ! "$py" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$dest.part"; then
        echo "note: could not fetch llama-cpp-python's source: the compare-llama-bench.py test will be skipped"
        exit 0
    fi
fi
tar -xzf "$dest.part/$top.tar.gz" -C "$dest.part" --strip-components=1 "$top/CHANGELOG.md" \
    "$top/vendor/llama.cpp/scripts/compare-llama-bench.py" "$top/vendor/llama.cpp/tools/llama-bench/llama-bench.cpp" \
    "$top/vendor/llama.cpp/LICENSE"
rm -f "$dest.part/$top.tar.gz"
rm -rf "$dest" && mv "$dest.part" "$dest"
