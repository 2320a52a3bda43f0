#!/usr/bin/env python3
"""Verify spiree's Android module against a real IREE runtime built from an IREE source tree.

    .venv/bin/python scripts/verify_android_runtime.py [--iree-source DIR] [--jobs N]

DIR (default: $IREE_SOURCE_DIR) is an IREE source tree with its runtime submodules
(third_party/flatcc); nothing of it is copied into this repository. Steps, each printed:

1. Host build: the module's own CMake (targets/android/spiree/src/main/cpp/CMakeLists.txt) builds
   the IREE runtime and libspiree_jni.so for this machine (x86-64 here: a desktop JVM is a
   supported host of the Java API). IREE's host tools are built from the tree, as in any native
   build.
2. aarch64 cross build: the same CMake file with clang --target=aarch64-linux-gnu against
   Debian's cross libc (libc6-dev-arm64-cross), IREE's host tools from the iree-base-runtime wheel
   (IREE_HOST_BIN_DIR): the path an NDK build takes. The library must link with every symbol
   resolved (-z defs) and export the JNI entry points.
3. For each model (tiny_cnn, and tiny_cnn pruned to 50% so spiree's sparse kernels run): compile a
   host vmfb with `spiree compile`, run it with `spiree run`, and drive the public Java API from a
   JVM over the host library (dev.spiree.runtime.RuntimeCheck: every load path and run variant,
   threads 0/1/2, input copies counted, error paths, a create/close leak check). The Java output
   must equal `spiree run`'s exactly (max abs error 0).
4. The aarch64 library runs too: there is no arm64 JVM here, so a C harness with a minimal JNIEnv
   (src/test/cpp/jni_harness.c, cross-built) calls its JNI functions under qemu-aarch64 on the arm64
   vmfb of each model (threads 1 and 2); the output must equal `spiree run`'s of that vmfb (max
   abs error 0), and the harness checks input copies and two error paths.

Without an IREE tree it prints one line saying how to provide one and exits 0 ("skipped:").
Builds are cached in $SPIREE_CACHE/android-runtime/<tree>/ (incremental on re-runs) and run under
`nice`. Exit status 1 and a "verify_android_runtime: FAILED: ..." line if anything fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODULE = REPO / "targets" / "android" / "spiree"
CMAKE_DIR = MODULE / "src" / "main" / "cpp"
JAVA_MAIN = MODULE / "src" / "main" / "java"
JAVA_TEST = MODULE / "src" / "test" / "java"
CROSS_SYSROOT = Path("/usr/aarch64-linux-gnu")
MIN_CMAKE = (3, 26)
# name -> `spiree compile` arguments (a host vmfb each).
MODELS = {
    "tiny_cnn": ["tiny_cnn"],
    "tiny_cnn_sparse50": ["tiny_cnn", "--sparsity", "0.5"],
}
HOW_TO_GET_IREE = (
    "set IREE_SOURCE_DIR (or pass --iree-source) to an IREE source tree of the compiler's release: "
    "git clone --branch v{v} --depth 1 https://github.com/iree-org/iree.git && "
    "(cd iree && bash build_tools/scripts/git/update_runtime_submodules.sh)"
)


class Failed(Exception):
    pass


def say(msg: str) -> None:
    print(msg, flush=True)


def pinned_version() -> str:
    text = (CMAKE_DIR / "CMakeLists.txt").read_text()
    return re.search(r'set\(SPIREE_IREE_VERSION "([^"]+)"', text).group(1)


def find_iree_tree(arg: str | None) -> Path | None:
    src = arg or os.environ.get("IREE_SOURCE_DIR")
    if not src:
        return None
    tree = Path(src).expanduser().resolve()
    if not (tree / "runtime/src/iree/runtime/api.h").is_file():
        raise Failed(f"{tree} is not an IREE source tree (no runtime/src/iree/runtime/api.h)")
    if not (tree / "third_party/flatcc/include/flatcc").is_dir():
        raise Failed(f"{tree} lacks the flatcc submodule: run build_tools/scripts/git/update_runtime_submodules.sh "
                     f"in it (or put dvidelabs/flatcc at the commit the tree pins into third_party/flatcc)")
    return tree


def tree_release(tree: Path) -> str:
    try:
        version = json.loads((tree / "runtime/version.json").read_text())["package-version"]
    except (OSError, KeyError, ValueError):
        return "unknown"
    return str(version)  # e.g. 3.12.0.dev


def find_cmake() -> str:
    for c in (Path(sys.executable).parent / "cmake", shutil.which("cmake")):
        if c and Path(c).is_file():
            out = subprocess.run([str(c), "--version"], capture_output=True, text=True).stdout
            m = re.search(r"(\d+)\.(\d+)", out)
            if m and (int(m.group(1)), int(m.group(2))) >= MIN_CMAKE:
                return str(c)
    raise Failed("needs CMake >= 3.26 (IREE's minimum): scripts/setup.sh installs it into .venv "
                 "(pip install 'cmake>=3.26,<4')")


def need(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise Failed(f"{tool} is missing ({why}): run scripts/setup.sh")
    return path


def host_tools_dir() -> Path:
    import iree._runtime_libs as libs

    d = Path(libs.__file__).parent
    for tool in ("iree-flatcc-cli", "iree-c-embed-data"):
        if not (d / tool).is_file():
            raise Failed(f"the iree-base-runtime wheel has no {tool} ({d}): reinstall it with scripts/setup.sh")
    return d


def run(cmd: list[str], *, log: Path | None = None, nice: bool = False, **kw) -> subprocess.CompletedProcess:
    pre = (lambda: os.nice(10)) if nice else None
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, preexec_fn=pre, **kw)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as f:
            f.write("$ " + " ".join(map(str, cmd)) + "\n" + p.stdout + p.stderr)
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:])
        where = f" (log: {log})" if log else ""
        raise Failed(f"`{' '.join(map(str, cmd[:3]))} ...` failed{where}:\n{tail}")
    return p


def cross_toolchain(path: Path) -> Path:
    """A CMake toolchain file: clang for aarch64-linux-gnu against Debian's cross libc."""
    if not (CROSS_SYSROOT / "include/stdio.h").is_file():
        raise Failed(f"the aarch64 cross libc is missing ({CROSS_SYSROOT}): run scripts/setup.sh "
                     f"(libc6-dev-arm64-cross, libgcc-s1-arm64-cross)")
    need("clang", "the aarch64 cross compiler")
    need("ld.lld", "the aarch64 cross linker")
    resource = run(["clang", "-print-resource-dir"]).stdout.strip()
    inc = f"-nostdinc -isystem {resource}/include -isystem {CROSS_SYSROOT}/include"
    path.write_text(f"""# Written by scripts/verify_android_runtime.py: aarch64 Linux with clang + Debian's cross libc.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
foreach(lang C CXX ASM)
  set(CMAKE_${{lang}}_COMPILER_TARGET aarch64-linux-gnu)
endforeach()
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_ASM_COMPILER clang)
set(CMAKE_C_FLAGS_INIT "{inc}")
set(CMAKE_CXX_FLAGS_INIT "{inc}")
set(CMAKE_ASM_FLAGS_INIT "{inc}")
# No cross gcc here (so no crtbegin/libgcc.a): libc plus libgcc_s for compiler builtins
# (__clear_cache), as an NDK links compiler-rt's.
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-fuse-ld=lld -nostdlib -L{CROSS_SYSROOT}/lib")
set(CMAKE_C_STANDARD_LIBRARIES "-lc -l:libgcc_s.so.1")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH {CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
""")
    return path


def build(tree: Path, build_dir: Path, defines: dict[str, str], jobs: int, cmake: str) -> Path:
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    log.write_text("")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    args = {"IREE_SOURCE_DIR": str(tree), "CMAKE_BUILD_TYPE": "Release", **defines}
    run([cmake, *gen, "-S", CMAKE_DIR, "-B", build_dir, "-Wno-dev", *(f"-D{k}={v}" for k, v in args.items())],
        log=log, nice=True)
    run([cmake, "--build", build_dir, "--target", "spiree_jni", "-j", str(jobs)], log=log, nice=True)
    lib = build_dir / "libspiree_jni.so"
    if not lib.is_file():
        raise Failed(f"the build produced no {lib}")
    return lib


def elf_machine(lib: Path) -> str:
    head = lib.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        raise Failed(f"{lib} is not an ELF file")
    return {62: "x86-64", 183: "AArch64"}.get(int.from_bytes(head[18:20], "little"), "other")


def exported_jni(lib: Path) -> list[str]:
    nm = shutil.which("llvm-nm") or need("nm", "to list the library's symbols")
    out = run([nm, "-D", "--defined-only", lib]).stdout
    return sorted(l.split()[-1] for l in out.splitlines() if " T Java_dev_spiree_" in l)


def needed_libs(lib: Path) -> list[str]:
    readelf = shutil.which("llvm-readelf") or need("readelf", "to list the library's dependencies")
    out = run([readelf, "-d", lib]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def java_home() -> Path:
    home = os.environ.get("JAVA_HOME")
    if home:
        return Path(home)
    return Path(os.path.realpath(need("javac", "the JDK's jni.h"))).parent.parent


def build_harness(out: Path) -> Path:
    """src/test/cpp/jni_harness.c for aarch64 Linux (clang, Debian's cross libc; no crtbegin here)."""
    inc = java_home() / "include"
    if not (inc / "jni.h").is_file():
        raise Failed(f"no jni.h in {inc}: install a JDK or set JAVA_HOME")
    resource = run(["clang", "-print-resource-dir"]).stdout.strip()
    lib = CROSS_SYSROOT / "lib"
    src = MODULE / "src/test/cpp/jni_harness.c"
    out.mkdir(parents=True, exist_ok=True)
    run(["clang", "--target=aarch64-linux-gnu", "-nostdinc", "-isystem", f"{resource}/include", "-isystem",
         CROSS_SYSROOT / "include", "-isystem", inc, "-isystem", inc / "linux", "-std=gnu11", "-O1", "-Wall",
         "-Werror", "-c", src, "-o", out / "jni_harness.o"])
    run(["clang", "--target=aarch64-linux-gnu", "-fuse-ld=lld", "-nostdlib", "-o", out / "jni_harness",
         lib / "crt1.o", lib / "crti.o", out / "jni_harness.o", f"-L{lib}", "-lc", lib / "crtn.o",
         "-Wl,--dynamic-linker=/lib/ld-linux-aarch64.so.1"])
    return out / "jni_harness"


def prepare_arm64(work: Path, name: str, compile_args: list[str]) -> Path:
    """The model's arm64 vmfb, an input and `spiree run`'s output for it (aarch64 tools, qemu)."""
    d = work / name / "arm64"
    d.mkdir(parents=True)
    spiree("compile", *compile_args, "--target", "arm64", "-o", d / "model.vmfb")
    shape = json.loads((d / "model.json").read_text())["inputs"][0]["shape"]
    x = np.random.default_rng(23).standard_normal(shape).astype(np.float32)
    np.save(d / "input.npy", x)
    x.astype("<f4").tofile(d / "input.bin")
    spiree("run", d / "model.vmfb", "--input", d / "input.npy", "--output", d / "reference.npy")
    return d


def check_arm64(d: Path, harness: Path, lib: Path) -> None:
    from spiree.pipeline.errors import RunError
    from spiree.pipeline.runtime import qemu_prefix

    try:
        qemu = qemu_prefix()  # the sysroot's libraries, as `spiree run` of arm64 vmfbs uses them
    except RunError as e:
        raise Failed(str(e)) from None
    m = json.loads((d / "model.json").read_text())
    shape = lambda t: ",".join(map(str, t["shape"]))  # noqa: E731
    ref = np.load(d / "reference.npy").astype(np.float32).ravel()
    for threads in (1, 2):
        out = d / f"output-{threads}.bin"
        p = run([*qemu, harness, lib,
                 d / "model.vmfb", m["entry"], threads, d / "input.bin", shape(m["inputs"][0]), out,
                 shape(m["outputs"][0])], timeout=900)
        say(f"    {p.stdout.strip()}")
        got = np.fromfile(out, dtype="<f4")
        err = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else float("inf")
        say(f"  {d.parent.name} (arm64, threads {threads}): aarch64 library under qemu vs `spiree run`: "
            f"max abs error {err} over {ref.size} values")
        if err != 0.0:
            raise Failed(f"{d.parent.name}: the aarch64 library's output differs from `spiree run` (max abs error {err})")


def compile_java(out: Path) -> Path:
    need("javac", "the Java API is compiled with the JDK")
    sources = [p for p in JAVA_MAIN.rglob("*.java") if p.parent.name != "android"] + list(JAVA_TEST.rglob("*.java"))
    shutil.rmtree(out, ignore_errors=True)
    run(["javac", "--release", "8", "-Xlint:all", "-Xlint:-options", "-Werror", "-d", out, *sorted(sources)])
    return out


def spiree(*args) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "spiree", "-q", *args])


def prepare_case(work: Path, name: str, compile_args: list[str], arm64_vmfb: Path, runtime_version: str) -> Path:
    """DIR for RuntimeCheck: the host vmfb, input.bin, `spiree run`'s reference, errors/*."""
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    vmfb = d / "model.vmfb"
    spiree("compile", *compile_args, "--target", "host", "-o", vmfb)
    manifest = json.loads((d / "model.json").read_text())
    shape = manifest["inputs"][0]["shape"]
    x = np.random.default_rng(17).standard_normal(shape).astype(np.float32)
    np.save(d / "input.npy", x)
    x.astype("<f4").tofile(d / "input.bin")
    spiree("run", vmfb, "--input", d / "input.npy", "--output", d / "reference.npy")

    out_shape = manifest["outputs"][0]["shape"]
    fmt = lambda s: "float32[" + ", ".join(map(str, s)) + "]"  # noqa: E731

    def case(case_name: str, exc: str, message: str, *, vmfb_bytes: bytes | None = None,
             edit=None, unchecked: bool = False, source_vmfb: Path = vmfb) -> None:
        c = d / "errors" / case_name
        c.mkdir(parents=True)
        data = vmfb_bytes if vmfb_bytes is not None else source_vmfb.read_bytes()
        (c / "model.vmfb").write_bytes(data)
        m = json.loads(source_vmfb.with_suffix(".json").read_text())
        if edit:
            edit(m)
        (c / "model.json").write_text(json.dumps(m, indent=1))
        (c / "expect.txt").write_text("\n".join([exc, message] + (["unchecked"] if unchecked else [])) + "\n")

    good = vmfb.read_bytes()
    bad_shape = [*out_shape, 1]
    case("output_shape", "dev.spiree.SpireeException",
         f"result 0 of model.vmfb is {fmt(out_shape)} but model.json describes {fmt(bad_shape)}: ship the "
         f"model.json written with this model.vmfb",
         edit=lambda m: m["outputs"][0].update(shape=bad_shape))
    case("output_count", "dev.spiree.SpireeException",
         "model.vmfb returned 1 result(s) but model.json lists 2 output(s)",
         edit=lambda m: m["outputs"].append(dict(m["outputs"][0], name="extra")))
    case("entry", "dev.spiree.SpireeException", "the entry function of model.json is not in model.vmfb: ",
         edit=lambda m: m.update(entry="not_there"))
    case("corrupt_vmfb", "dev.spiree.SpireeException",
         "IREE cannot load model.vmfb (compiled for another target or by another IREE version?): ",
         vmfb_bytes=bytes(64) + good[64:], unchecked=True)
    case("checksum", "dev.spiree.SpireeException", "model.vmfb does not match model.json",
         vmfb_bytes=good[:-1] + bytes([good[-1] ^ 1]))
    case("compiler_version", "dev.spiree.SpireeException",
         f"model.vmfb was compiled with IREE 3.12.0 but this app's IREE runtime is {runtime_version}",
         edit=lambda m: m["versions"].update({"iree-base-compiler": "3.12.0"}))
    case("arm64_vmfb", "dev.spiree.SpireeException",
         "model.vmfb was compiled for target 'arm64' (embedded-elf-arm_64), which this runtime "
         "(embedded-elf-x86_64) cannot load: compile it for this machine with `spiree compile MODEL --target host`",
         source_vmfb=arm64_vmfb)
    return d


def check_java(case_dir: Path, classes: Path, lib_dir: Path) -> None:
    need("java", "the JVM that drives the Java API")
    # A fixed, pre-touched heap: the leak check reads resident memory (see RuntimeCheck).
    p = subprocess.run(["java", "-Xcheck:jni", "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch",
                        f"-Djava.library.path={lib_dir}", "-cp", str(classes),
                        "dev.spiree.runtime.RuntimeCheck", str(case_dir)], capture_output=True, text=True,
                       timeout=1800)
    for line in p.stdout.splitlines():
        say(f"    {line}")
    jni_warnings = [l for l in (p.stdout + p.stderr).splitlines() if "WARNING in native method" in l]
    if p.returncode != 0 or jni_warnings:
        raise Failed(f"RuntimeCheck failed on {case_dir.name} (exit {p.returncode}):\n"
                     + "\n".join((jni_warnings or p.stderr.strip().splitlines())[-15:]))
    ref = np.load(case_dir / "reference.npy").astype(np.float32).ravel()
    got = np.fromfile(case_dir / "output.bin", dtype="<f4")
    if got.shape != ref.shape:
        raise Failed(f"{case_dir.name}: the Java output has {got.size} values, `spiree run` {ref.size}")
    err = float(np.max(np.abs(got - ref)))
    say(f"  {case_dir.name}: Java API vs `spiree run`: max abs error {err} over {ref.size} values")
    if err != 0.0:
        raise Failed(f"{case_dir.name}: the Java API's output differs from `spiree run` (max abs error {err})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iree-source", help="IREE source tree (default: $IREE_SOURCE_DIR)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="build parallelism (default 2)")
    ap.add_argument("--build-root", type=Path, help="where builds are cached (default $SPIREE_CACHE/android-runtime)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (models, Java outputs)")
    ap.add_argument("--model", action="append", metavar="NAME=SPIREE_COMPILE_ARGS",
                    help="models to check instead of the default ones, e.g. "
                         "--model 'mnv1_70=mobilenet_v1 --sparsity 0.7' (repeatable)")
    args = ap.parse_args(argv)
    models = MODELS
    if args.model:
        try:
            models = {n.strip(): a.split() for n, a in (m.split("=", 1) for m in args.model)}
        except ValueError:
            ap.error("--model takes NAME=SPIREE_COMPILE_ARGS")
    version = pinned_version()
    t0 = time.time()
    try:
        tree = find_iree_tree(args.iree_source)
        if tree is None:
            say("verify_android_runtime: skipped: no IREE source tree; " + HOW_TO_GET_IREE.format(v=version))
            return 0
        cmake = find_cmake()
        from spiree.targets.fetch_tools import cache_root

        root = args.build_root or cache_root() / "android-runtime"
        root = root / hashlib.sha256(str(tree).encode()).hexdigest()[:12]
        release = tree_release(tree)
        say(f"IREE source: {tree} (runtime/version.json: {release}); spiree pins IREE {version}")
        defines = {}
        if not release.startswith(version):
            # The Java side refuses models from another release than the one recorded in the
            # library; a dev tree's version.json lags its ABI. Whether this runtime really runs
            # spiree's vmfbs is exactly what step 3 checks.
            defines["SPIREE_IREE_RUNTIME_VERSION"] = version
            say(f"  the tree is not {version}: the library records {version} "
                f"(-DSPIREE_IREE_RUNTIME_VERSION), and the checks below show whether it runs {version} vmfbs")

        t = time.time()
        host_lib = build(tree, root / "host", {"CMAKE_C_COMPILER": need("clang", "the host compiler"),
                                               "CMAKE_CXX_COMPILER": need("clang++", "the host compiler"),
                                               **defines}, args.jobs, cmake)
        jni = exported_jni(host_lib)
        say(f"host build: {host_lib} ({elf_machine(host_lib)}, {len(jni)} JNI functions) in {time.time() - t:.0f} s")

        t = time.time()
        toolchain = cross_toolchain(root / "aarch64-linux-gnu.cmake")
        a64_lib = build(tree, root / "aarch64", {"CMAKE_TOOLCHAIN_FILE": str(toolchain),
                                                 "IREE_HOST_BIN_DIR": str(host_tools_dir()), **defines},
                        args.jobs, cmake)
        machine, a64_jni, needed = elf_machine(a64_lib), exported_jni(a64_lib), needed_libs(a64_lib)
        if machine != "AArch64" or a64_jni != jni:
            raise Failed(f"the aarch64 build is {machine} and exports {a64_jni} (host: {jni})")
        say(f"aarch64 cross build: {a64_lib} ({machine}, linked with -z defs, same {len(a64_jni)} JNI "
            f"functions, needs {', '.join(needed)}) in {time.time() - t:.0f} s")

        with tempfile.TemporaryDirectory(prefix="spiree-android-verify-") as tmp:
            work = Path(tempfile.mkdtemp(prefix="spiree-android-verify-")) if args.keep else Path(tmp)
            classes = compile_java(work / "classes")
            harness = build_harness(root / "harness")
            for name, compile_args in models.items():
                t = time.time()
                arm64 = prepare_arm64(work, name, compile_args)
                case_dir = prepare_case(work, name, compile_args, arm64 / "model.vmfb", version)
                say(f"{name}: host and arm64 vmfbs, `spiree run` references, "
                    f"{len(list((case_dir / 'errors').iterdir()))} error bundles in {time.time() - t:.0f} s")
                say("  RuntimeCheck (desktop JVM, host library):")
                check_java(case_dir, classes, host_lib.parent)
                say("  jni_harness (aarch64 library under qemu):")
                check_arm64(arm64, harness, a64_lib)
            if args.keep:
                say(f"kept {work}")
    except Failed as e:
        say(f"verify_android_runtime: FAILED: {e}")
        return 1
    say(f"verify_android_runtime: ok ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
