#!/usr/bin/env bash
# Syntax-check the JNI bridge (spiree/src/main/cpp/spiree_jni.c) with -Wall -Werror against the
# JDK's jni.h and the real IREE runtime headers of an IREE source tree (as system headers, as the
# module's CMake includes them: -Werror is for spiree's code, not IREE's), with the defines IREE's
# CMake gives its users (the libc system allocator):
#
#   IREE_SOURCE_DIR=/path/to/iree-3.13.0 targets/android/check_bridge.sh
#
# No Android NDK needed: the bridge is plain C11 + JNI + the IREE runtime API. CC (default clang,
# else gcc) and JAVA_HOME (default: from javac on PATH) can be overridden. For a full build and a
# run through the Java API, see scripts/verify_android_runtime.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/spiree/src/main/cpp/spiree_jni.c"

if [ -z "${IREE_SOURCE_DIR:-}" ]; then
  echo "check_bridge.sh: set IREE_SOURCE_DIR to an IREE source tree, e.g." >&2
  echo "  git clone --branch v3.13.0 --depth 1 https://github.com/iree-org/iree.git /tmp/iree" >&2
  echo "  IREE_SOURCE_DIR=/tmp/iree $0" >&2
  exit 2
fi
iree_src="$IREE_SOURCE_DIR/runtime/src"
if [ ! -f "$iree_src/iree/runtime/api.h" ]; then
  echo "check_bridge.sh: $IREE_SOURCE_DIR is not an IREE source tree (no runtime/src/iree/runtime/api.h)" >&2
  exit 1
fi
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
if [ ! -f "$java_home/include/jni.h" ]; then
  echo "check_bridge.sh: no jni.h under $java_home/include: install a JDK or set JAVA_HOME" >&2
  exit 1
fi
cc=${CC:-$(command -v clang || command -v gcc)}
# The release (major.minor.patch) of runtime/version.json: "3.12.0.dev" -> 3.12.0.
version=$(sed -n 's/.*"package-version": *"\([0-9]\{1,\}\.[0-9]\{1,\}\.[0-9]\{1,\}\).*/\1/p' \
  "$IREE_SOURCE_DIR/runtime/version.json" 2>/dev/null || true)

set -x
"$cc" -std=gnu11 -Wall -Werror -fsyntax-only \
  -isystem "$iree_src" -isystem "$java_home/include" -isystem "$java_home/include/linux" \
  -DIREE_ALLOCATOR_SYSTEM_CTL=iree_allocator_libc_ctl \
  -DSPIREE_IREE_RUNTIME_VERSION="\"${version:-unknown}\"" \
  "$src"
{ set +x; } 2>/dev/null
echo "ok: spiree_jni.c compiles against $IREE_SOURCE_DIR (IREE ${version:-unknown}) and $java_home/include/jni.h"
