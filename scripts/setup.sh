#!/usr/bin/env bash
# spiree setup: system packages (apt), the .venv with spiree + test extras (and CMake >= 3.26), and the
# aarch64 IREE runtime tools used to run arm64 artifacts under qemu-user, and the aarch64
# Wasmtime library used to check wasm32 artifacts on an arm64 host (also under qemu-user).
# Idempotent: re-running skips what is already there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
log() { printf '[setup] %s\n' "$*" >&2; }

# 1. System packages: qemu-user + Debian's arm64 cross libc (arm64 runs; its headers to cross-build
# the wasm bridge for an arm64 host), clang/lld (kernels, the wasm bridge).
apt_pkgs=(qemu-user libc6-arm64-cross libc6-dev-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
          clang lld llvm)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "system packages present"
fi

# 2. Python venv with spiree and its test extras.
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import spiree, iree.compiler, iree.runtime, torch, torch_mlir, pytest" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.spiree-installed ]; then
  log "installing spiree[test,bench] into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, pinned, so that the CPU wheel is taken (an unpinned torch pulls a CUDA build).
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test,bench]"
  touch .venv/.spiree-installed
else
  log "python packages present"
fi

# 2b. CMake >= 3.26 (IREE's minimum; Debian 12 has 3.25) in .venv, for building the Android
# module's native library with the IREE runtime (scripts/verify_android_runtime.py).
if ! .venv/bin/cmake --version 2>/dev/null | grep -qE 'version 3\.(2[6-9]|3[0-9])\.'; then
  log "installing cmake>=3.26 into .venv"
  .venv/bin/python -m pip install -q 'cmake>=3.26,<4'
fi

# 3. aarch64 IREE runtime tools (iree-run-module etc.) for arm64 artifacts under qemu, and the
# aarch64 Wasmtime library for the wasm bridge of an arm64 host.
.venv/bin/python -c "from spiree.targets.fetch_tools import fetch, fetch_wasmtime; print(fetch()); print(fetch_wasmtime())"
log "done"
