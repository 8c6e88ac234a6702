#!/usr/bin/env bash
# Installs every build/test dependency from Debian bookworm's apt repositories and builds earshot
# (release preset). Usage: ./scripts/setup.sh [--no-build]
# Needs root (or sudo) for apt-get. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas-dev
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libsoxr-dev libfftw3-dev
  libchromaprint-dev  # same-recording fingerprints (docs/dedup.md)
  ffmpeg  # the ffmpeg tool: copies for earshot_dedup_eval and the page's same-recording test
  libsqlite3-dev libpq-dev postgresql libcli11-dev libfmt-dev nlohmann-json3-dev libexpected-dev
  libcpp-httplib-dev libhnswlib-dev libfaiss-dev
  zlib1g-dev  # the server gzips the map once (httplib links zlib too)
  libssl-dev openssl  # serve --tls-cert (OpenSSL), and the TLS test makes its certificate with openssl
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-torch python3-numpy python3-h5py  # tools/convert_*.py and their tests (tests/tools)
  clang libclang-rt-14-dev libomp-dev  # fuzz/ (libFuzzer + ASan/UBSan, fuzz/run_smoke.sh)
  # The Python package (python/) and its tests (tests/python), for /usr/bin/python3
  pybind11-dev python3-pybind11 python3-dev python3-pytest python3-distributed
)
# Browser tests (tests/web): Debian's Chromium, and Node.js + npm unless the machine has them.
PACKAGES+=(chromium unzip)  # unzip checks the page's zip download (GET /api/zip)
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${#missing[@]} Debian package(s): ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
else
  echo "==> all Debian packages already installed"
fi

if [ "${1:-}" != "--no-build" ]; then
  echo "==> configuring and building (build/release)"
  cmake --preset release
  cmake --build --preset release
  echo "==> done: ./build/release/earshot --help"
fi
