"""The Android embedding: `spiree android` bundles, model.json schema (Python and Java), the Java
API without native code (javac/java), the module's CMake (configure-time checks), the JNI bridge
check script, and the runtime verification (scripts/verify_android_runtime.py).

The bundle's model.vmfb runs here under the aarch64 IREE runtime (qemu) with the entry function
and signature from its model.json; the Java side runs against a pure-Java backend, and, given an
IREE source tree (IREE_SOURCE_DIR, marker `iree_source`), against the real runtime built with the
module's own CMake on a desktop JVM.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spiree
from spiree.pipeline.android import (
    ANDROID_DIR, ASSETS_SUBDIR, MODULE_TEMPLATE, SCHEMA_PATH, load_schema,
    validate_manifest, write_bundle,
)
from spiree.pipeline.artifact import Artifact
from spiree.pipeline.errors import ArtifactError
from spiree.pipeline.prune import PruneOptions
from spiree.targets.fetch_tools import runtime_version

from .conftest import have_qemu, torch_reference

REPO = Path(__file__).resolve().parent.parent
VERIFY = REPO / "scripts" / "verify_android_runtime.py"
CMAKE_DIR = MODULE_TEMPLATE / "src/main/cpp"

SPIREE = [sys.executable, "-m", "spiree"]
ATOL = 1e-4
JAVA_MAIN = MODULE_TEMPLATE / "src/main/java"
JAVA_TEST = MODULE_TEMPLATE / "src/test/java"


def spiree_cli(*args):
    return subprocess.run([*SPIREE, *map(str, args)], capture_output=True, text=True)


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """`spiree ARGS` in this process (the fixture `bundle` runs the real command once)."""
    from spiree.cli import main

    def run(*args):
        capsys.readouterr()
        code = main(["-q", *map(str, args)])
        captured = capsys.readouterr()
        return _Result(code, captured.out, captured.err)

    return run


def error_line(proc) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.startswith("spiree: error:")]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """`spiree android tiny_cnn -o DIR`, once."""
    out = tmp_path_factory.mktemp("android") / "spiree-module"
    p = spiree_cli("android", "tiny_cnn", "-o", out)
    assert p.returncode == 0, p.stderr
    return out, p.stdout


# --- the bundle ----------------------------------------------------------------------------------

def test_bundle_is_a_library_module_with_the_model_in_its_assets(bundle):
    out, stdout = bundle
    assets = out / ASSETS_SUBDIR
    assert sorted(p.name for p in assets.iterdir()) == ["model.json", "model.vmfb"]
    for rel in ("build.gradle", "consumer-rules.pro", "src/main/AndroidManifest.xml",
                "src/main/cpp/CMakeLists.txt", "src/main/cpp/spiree_jni.c",
                "src/main/java/dev/spiree/SpireeModel.java",
                "src/main/java/dev/spiree/android/SpireeAndroid.java"):
        assert (out / rel).is_file(), rel
    assert not (out / "src/test").exists()  # tests stay in spiree's repository
    # The manifest is exactly what `spiree compile` writes beside a vmfb, and it is valid.
    m = json.loads((assets / "model.json").read_text())
    validate_manifest(m)
    assert m["target"] == "arm64" and m["executable_format"] == "embedded-elf-arm_64"
    assert m["entry"] == "main" and m["inputs"][0]["shape"] == [1, 3, 32, 32]
    art = Artifact.load(assets / "model.vmfb")  # checksum matches
    assert art.manifest == m
    assert "next steps:" in stdout and f"git clone --branch v{runtime_version()}" in stdout
    assert f"project(':spiree').projectDir = file('{out.resolve()}')" in stdout
    tools = re.search(r"spiree\.ireeHostBinDir=(\S+)", stdout).group(1)
    assert all((Path(tools) / t).is_file() for t in ("iree-flatcc-cli", "iree-c-embed-data")), tools
    assert "m.run(input, 1, 3, 32, 32)" in stdout


@pytest.mark.arm64
@pytest.mark.skipif(not have_qemu(), reason="needs qemu-aarch64 (scripts/setup.sh)")
def test_bundle_runs_on_the_aarch64_runtime_with_its_manifest_signature(bundle):
    out, _ = bundle
    vmfb = out / ASSETS_SUBDIR / "model.vmfb"
    m = json.loads((out / ASSETS_SUBDIR / "model.json").read_text())
    model = spiree.load(vmfb)
    assert model.target.name == "arm64" and model.entry == m["entry"]
    assert [(s.name, list(s.shape), s.dtype) for s in model.inputs] == \
        [(s["name"], s["shape"], s["dtype"]) for s in m["inputs"]]
    x = np.random.default_rng(5).standard_normal(m["inputs"][0]["shape"]).astype(m["inputs"][0]["dtype"])
    y = model(x)  # iree-run-module --function=<entry from model.json> under qemu-aarch64
    assert list(y.shape) == m["outputs"][0]["shape"] and str(y.dtype) == m["outputs"][0]["dtype"]
    ref = torch_reference("tiny_cnn", x)
    err = float(np.abs(y - ref).max())
    assert err <= ATOL, f"tiny_cnn android bundle on arm64 (qemu): max abs error {err} > {ATOL}"
    assert np.abs(ref).max() > 0.1


def test_assets_only_into_an_existing_app_module(bundle, cli, tmp_path):
    out, _ = bundle
    app = tmp_path / "app"
    app.mkdir()
    (app / "build.gradle").write_text("plugins { id 'com.android.application' }\n")
    vmfb = out / ASSETS_SUBDIR / "model.vmfb"
    p = cli("android", vmfb, "-o", app)  # a prebuilt arm64 .vmfb is accepted as MODEL
    assert "existing Gradle module that spiree did not write: pass --assets-only" in error_line(p)
    p = cli("android", vmfb, "--assets-only", "-o", app)
    assert p.returncode == 0, p.stderr
    assert (app / ASSETS_SUBDIR / "model.vmfb").read_bytes() == vmfb.read_bytes()
    assert not (app / "src/main/cpp").exists()
    # Re-running over a module spiree wrote refreshes it.
    p = cli("android", vmfb, "-o", out)
    assert p.returncode == 0, p.stderr


def test_bad_input_gives_one_clear_error_line(bundle, cli, tiny_artifacts, tmp_path):
    out, _ = bundle
    p = cli("android", tiny_artifacts["wasm32"], "-o", tmp_path / "m1")
    assert error_line(p) == (
        "spiree: error: this artifact was compiled for target 'wasm32' (system-wasm-wasm_32), which Android "
        "arm64-v8a cannot load: recompile it with `spiree compile MODEL --target arm64` or pass the model to "
        "`spiree android` directly")
    assert not (tmp_path / "m1").exists()
    # A vmfb from another IREE release.
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(out / ASSETS_SUBDIR / "model.vmfb", old / "model.vmfb")
    m = json.loads((out / ASSETS_SUBDIR / "model.json").read_text())
    m["versions"]["iree-base-compiler"] = "3.12.0"
    (old / "model.json").write_text(json.dumps(m))
    p = cli("android", old / "model.vmfb", "-o", tmp_path / "m2")
    v = runtime_version()
    assert error_line(p) == (
        f"spiree: error: this artifact was compiled with IREE 3.12.0 but the Android runtime is IREE {v} (IREE "
        f"bytecode is only guaranteed to load in the same release): recompile it with this spiree "
        f"(iree-base-compiler=={v})")
    p = cli("android", out / ASSETS_SUBDIR / "model.vmfb", "--sparsity", "0.5", "-o", tmp_path / "m3")
    assert error_line(p) == ("spiree: error: --sparsity applies when compiling a model, not to an already "
                             "compiled .vmfb: pass the model instead")
    p = cli("android", tmp_path / "missing.vmfb", "-o", tmp_path / "m4")
    assert error_line(p) == (f"spiree: error: artifact {tmp_path / 'missing.vmfb'} does not exist: compile one "
                             f"with `spiree compile`")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    p = cli("android", out / ASSETS_SUBDIR / "model.vmfb", "-o", tmp_path / "junk")
    assert error_line(p) == (
        f"spiree: error: {tmp_path / 'junk'} is a non-empty directory that is not a Gradle module: -o a new or "
        f"empty directory (or pass --assets-only to write just {ASSETS_SUBDIR}/model.vmfb and model.json)")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["junk", "old"]  # no error wrote anything
    assert [f.name for f in (tmp_path / "junk").iterdir()] == ["notes.txt"]


def test_android_prunes_the_model_before_compiling(cli, tmp_path):
    out = tmp_path / "pruned"
    p = cli("android", "tiny_cnn", "--sparsity", "0.7", "--group", "2", "-o", out)
    assert p.returncode == 0, p.stderr
    m = json.loads((out / ASSETS_SUBDIR / "model.json").read_text())
    validate_manifest(m)
    # The pruning options arrive whole in the manifest (what `run --check` prunes the reference with).
    assert m["target"] == "arm64" and PruneOptions.from_json(m["sparsity"]) == PruneOptions(0.7, 2)
    assert m["sparsity"]["layers_pruned"] > 0
    sparse = [r for r in m["passes"] if r["decision"] == "sparse"]
    assert sparse and all(re.search(r"_\d+x2_v4_", r["kernel"]) for r in sparse), m["passes"]  # G=2, NEON
    p = cli("android", "tiny_cnn", "--group", "2", "-o", tmp_path / "m")
    assert error_line(p) == "spiree: error: --group only applies when pruning: add --sparsity S (e.g. 0.7)"
    assert not (tmp_path / "m").exists()


def test_runtime_version_is_pinned_in_one_place():
    cmake = (MODULE_TEMPLATE / "src/main/cpp/CMakeLists.txt").read_text()
    pinned = re.search(r'set\(SPIREE_IREE_VERSION "([^"]+)"', cmake).group(1)
    assert pinned == runtime_version() == "3.13.0"
    assert "abiFilters 'arm64-v8a'" in (MODULE_TEMPLATE / "build.gradle").read_text()


# --- model.json schema (Python side) -------------------------------------------------------------

def _good_manifest(bundle):
    return json.loads((bundle[0] / ASSETS_SUBDIR / "model.json").read_text())


def test_schema_rejects_each_missing_required_field(bundle):
    schema = load_schema()
    for field in schema["required"]:
        m = _good_manifest(bundle)
        del m[field]
        with pytest.raises(ArtifactError, match=rf"model\.json is missing the required field '{field}'"):
            validate_manifest(m)
    for field in schema["$defs"]["tensor"]["required"]:
        m = _good_manifest(bundle)
        del m["outputs"][0][field]
        with pytest.raises(ArtifactError, match=rf"outputs\[0\] is missing the required field '{field}'"):
            validate_manifest(m)


@pytest.mark.parametrize("path, value, message", [
    (("format",), "spiree-artifact/0", r"model\.json\.format must be 'spiree-artifact/1'"),
    (("entry",), "not a name", r"model\.json\.entry 'not a name' does not match"),
    (("inputs",), [], r"model\.json\.inputs must have at least 1 item"),
    (("inputs", 0, "shape", 1), 0, r"model\.json\.inputs\[0\]\.shape\[1\] must be >= 1"),
    (("outputs", 0, "dtype"), "float64", r"model\.json\.outputs\[0\]\.dtype must be one of"),
    (("vmfb_sha256",), "abc", r"model\.json\.vmfb_sha256 'abc' does not match"),
    (("versions", "iree-base-compiler"), "latest", r"iree-base-compiler 'latest' does not match"),
    (("target",), 7, r"model\.json\.target must be of type string"),
])
def test_schema_rejects_malformed_values(bundle, path, value, message):
    m = _good_manifest(bundle)
    node = m
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ArtifactError, match=message):
        validate_manifest(m)


def test_schema_file_ships_with_the_package():
    assert SCHEMA_PATH.parent == ANDROID_DIR and SCHEMA_PATH.is_file()
    assert load_schema()["properties"]["format"]["const"] == "spiree-artifact/1"


# --- the Java API (no native code) ---------------------------------------------------------------

def _javac():
    return shutil.which("javac"), shutil.which("java")


needs_java = pytest.mark.skipif(not all(_javac()), reason="javac/java (JDK) not installed")


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    """The core (everything but dev.spiree.android) and the test runner, compiled for Java 8."""
    out = tmp_path_factory.mktemp("java")
    core = sorted(p for p in JAVA_MAIN.rglob("*.java") if "android" not in p.relative_to(JAVA_MAIN).parts[:-1]
                  and p.parent.name != "android")
    tests = sorted(JAVA_TEST.rglob("*.java"))
    p = subprocess.run(["javac", "--release", "8", "-Xlint:all", "-Xlint:-options", "-Werror", "-d", str(out),
                        *map(str, core), *map(str, tests)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


def _run_java(classes, bundle, schema=SCHEMA_PATH):
    assets = bundle[0] / ASSETS_SUBDIR
    return subprocess.run(["java", "-cp", str(classes), "dev.spiree.SpireeModelTest", str(assets / "model.vmfb"),
                           str(assets / "model.json"), str(schema)], capture_output=True, text=True, timeout=120)


@needs_java
def test_java_core_compiles_without_the_android_sdk():
    # Only the one Android class touches android.*; the rest is plain JDK.
    for src in JAVA_MAIN.rglob("*.java"):
        uses_android = re.search(r"^import android\.", src.read_text(), re.M) is not None
        assert uses_android == (src.name == "SpireeAndroid.java"), src


@needs_java
def test_java_signature_and_metadata_logic(java_classes, bundle):
    p = _run_java(java_classes, bundle)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"SpireeModelTest: \d+ checks, 0 failure\(s\)", p.stdout), p.stdout
    # Java reads the same signature Python wrote.
    m = _good_manifest(bundle)
    sig = ", ".join(f"{s['name']}: {s['dtype']}{s['shape']}" for s in m["inputs"])
    out = ", ".join(f"{s['name']}: {s['dtype']}{s['shape']}" for s in m["outputs"])
    assert f"signature: @{m['entry']} ({sig}) -> ({out}) target=arm64 format=embedded-elf-arm_64 " \
           f"compiler={m['versions']['iree-base-compiler']}" in p.stdout


@needs_java
def test_java_validation_follows_the_schema(java_classes, bundle, tmp_path):
    """A field the schema requires but Java does not check makes the Java test fail."""
    schema = load_schema()
    schema["required"].append("bogus_field")
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    p = _run_java(java_classes, bundle, path)
    assert p.returncode == 1
    assert "FAIL" in p.stdout and "'bogus_field'" in p.stdout


# --- the JNI bridge check ------------------------------------------------------------------------

def test_check_bridge_needs_an_iree_source_tree(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IREE_SOURCE_DIR"}
    p = subprocess.run(["bash", str(ANDROID_DIR / "check_bridge.sh")], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "set IREE_SOURCE_DIR" in p.stderr
    p = subprocess.run(["bash", str(ANDROID_DIR / "check_bridge.sh")], capture_output=True, text=True,
                       env=dict(env, IREE_SOURCE_DIR=str(tmp_path)))
    assert p.returncode == 1 and "is not an IREE source tree" in p.stderr


@pytest.mark.skipif(not os.environ.get("IREE_SOURCE_DIR"), reason="IREE_SOURCE_DIR (IREE 3.13.0 source) not set")
@pytest.mark.skipif(not shutil.which("javac"), reason="no JDK (jni.h)")
def test_check_bridge_against_real_iree_headers():
    p = subprocess.run(["bash", str(ANDROID_DIR / "check_bridge.sh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def _fake_cc(tmp_path):
    """A compiler that records its arguments (to see what check_bridge.sh passes)."""
    cc = tmp_path / "fake-cc"
    cc.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/cc-args"\n')
    cc.chmod(0o755)
    return cc


def test_check_bridge_passes_iree_defines_and_the_release_of_a_dev_tree(tmp_path):
    tree = tmp_path / "iree"
    (tree / "runtime/src/iree/runtime").mkdir(parents=True)
    (tree / "runtime/src/iree/runtime/api.h").write_text("")
    (tree / "runtime/version.json").write_text('{\n  "package-version": "3.12.0.dev"\n}\n')
    p = subprocess.run(["bash", str(ANDROID_DIR / "check_bridge.sh")], capture_output=True, text=True,
                       env=dict(os.environ, IREE_SOURCE_DIR=str(tree), CC=str(_fake_cc(tmp_path))))
    assert p.returncode == 0, p.stderr
    args = (tmp_path / "cc-args").read_text().splitlines()
    assert '-DSPIREE_IREE_RUNTIME_VERSION="3.12.0"' in args  # not "3.12.0."
    assert "-DIREE_ALLOCATOR_SYSTEM_CTL=iree_allocator_libc_ctl" in args  # IREE's CMake passes it to users
    # IREE's headers are system headers: -Werror applies to the bridge, not to IREE's tracing.h.
    assert args[args.index(str(tree / "runtime/src")) - 1] == "-isystem" and "-Werror" in args
    assert "(IREE 3.12.0)" in p.stdout


# --- the module's CMake, configure-time checks (no IREE needed) -----------------------------------

def _cmake():
    for c in (Path(sys.executable).parent / "cmake", shutil.which("cmake")):
        if c and Path(c).is_file():
            out = subprocess.run([str(c), "--version"], capture_output=True, text=True).stdout
            m = re.search(r"(\d+)\.(\d+)", out)
            if m and (int(m.group(1)), int(m.group(2))) >= (3, 26):
                return str(c)
    return None


needs_cmake = pytest.mark.skipif(_cmake() is None, reason="CMake >= 3.26 (scripts/setup.sh installs it into .venv)")


@pytest.fixture
def fake_iree(tmp_path):
    """A stand-in IREE tree whose CMakeLists.txt records the options the module sets for it."""
    tree = tmp_path / "iree"
    (tree / "runtime/src/iree/runtime").mkdir(parents=True)
    (tree / "runtime/src/iree/runtime/api.h").write_text("")
    (tree / "runtime/version.json").write_text('{"package-version": "3.13.0"}')
    keys = ["IREE_ENABLE_LIBBACKTRACE", "IREE_BUILD_BENCHMARKS", "IREE_BUILD_TESTS", "IREE_BUILD_SAMPLES",
            "IREE_BUILD_COMPILER", "IREE_ENABLE_WERROR_FLAG", "IREE_HOST_BIN_DIR"]
    (tree / "CMakeLists.txt").write_text(
        "".join(f'file(APPEND "${{CMAKE_BINARY_DIR}}/iree-options.txt" "{k}=${{{k}}}\\n")\n' for k in keys))
    return tree


def _configure(tmp_path, tree, *defines, env=None):
    build = tmp_path / f"build{len(list(tmp_path.glob('build*')))}"
    cmd = [_cmake(), "-S", str(CMAKE_DIR), "-B", str(build), f"-DIREE_SOURCE_DIR={tree}", *defines]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env or os.environ, timeout=300)
    options = build / "iree-options.txt"
    return p, dict(l.split("=", 1) for l in options.read_text().splitlines()) if options.is_file() else {}


@needs_cmake
@needs_java
def test_cmake_configures_the_runtime_offline_without_benchmarks(tmp_path, fake_iree):
    p, options = _configure(tmp_path, fake_iree)
    assert p.returncode == 0, p.stdout + p.stderr
    assert options["IREE_ENABLE_LIBBACKTRACE"] == "OFF"  # fetched from the network otherwise
    assert options["IREE_BUILD_BENCHMARKS"] == "OFF" and options["IREE_BUILD_TESTS"] == "OFF"
    assert options["IREE_BUILD_COMPILER"] == "OFF" and options["IREE_BUILD_SAMPLES"] == "OFF"
    assert options["IREE_ENABLE_WERROR_FLAG"] == "OFF"
    assert re.search(r"cmake_minimum_required\(VERSION 3\.26\)", (CMAKE_DIR / "CMakeLists.txt").read_text())
    gradle = (MODULE_TEMPLATE / "build.gradle").read_text()
    v = re.search(r"version '(\d+)\.(\d+)\.\d+\+?'", gradle)
    assert (int(v.group(1)), int(v.group(2))) >= (3, 26), "build.gradle asks for a CMake older than IREE's minimum"
    assert "-DIREE_HOST_BIN_DIR=${ireeHostBinDir}" in gradle


@needs_cmake
def test_cmake_cross_build_needs_iree_host_tools(tmp_path, fake_iree):
    cross = ["-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
             "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY"]
    p, _ = _configure(tmp_path, fake_iree, *cross)
    assert p.returncode != 0
    err = " ".join(p.stderr.split())
    assert "Cross-compiling the IREE runtime needs IREE's host tools (iree-flatcc-cli;iree-c-embed-data)" in err
    assert "pip install iree-base-runtime==3.13.0" in err and "spiree.ireeHostBinDir" in err
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    p, _ = _configure(tmp_path, fake_iree, *cross, f"-DIREE_HOST_BIN_DIR={empty}")
    assert p.returncode != 0 and f"IREE_HOST_BIN_DIR='{empty}' has no iree-flatcc-cli" in " ".join(p.stderr.split())
    # The wheel's directory is what the message points to, and it passes.
    import iree._runtime_libs as libs

    wheel = Path(libs.__file__).parent
    p, options = _configure(tmp_path, fake_iree, *cross, f"-DIREE_HOST_BIN_DIR={wheel}",
                            f"-DJAVA_HOME={tmp_path}")  # stops at jni.h, after the IREE subproject
    assert options.get("IREE_HOST_BIN_DIR") == str(wheel), p.stderr


@needs_cmake
def test_cmake_desktop_build_needs_jni_h(tmp_path, fake_iree):
    p, _ = _configure(tmp_path, fake_iree, f"-DJAVA_HOME={tmp_path / 'no-jdk'}")
    assert p.returncode != 0
    assert "jni.h was not found" in p.stderr and "openjdk-17-jdk-headless" in " ".join(p.stderr.split())


@needs_java
def test_spiree_android_compiles_against_the_android_api(tmp_path, java_classes):
    """SpireeAndroid against stand-ins of the two Android classes it uses (no SDK here)."""
    stubs = tmp_path / "stubs/android/content"
    (stubs / "res").mkdir(parents=True)
    (stubs / "Context.java").write_text(
        "package android.content;\npublic abstract class Context {\n"
        "  public abstract android.content.res.AssetManager getAssets();\n"
        "  public abstract java.io.File getNoBackupFilesDir();\n}\n")
    (stubs / "res/AssetManager.java").write_text(
        "package android.content.res;\npublic final class AssetManager {\n"
        "  public java.io.InputStream open(String path) throws java.io.IOException { return null; }\n}\n")
    src = JAVA_MAIN / "dev/spiree/android/SpireeAndroid.java"
    p = subprocess.run(["javac", "--release", "8", "-Xlint:all", "-Xlint:-options", "-Werror", "-cp", str(java_classes),
                        "-d", str(tmp_path / "out"), str(stubs / "Context.java"), str(stubs / "res/AssetManager.java"),
                        str(src)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


# --- arm64 tools under qemu -------------------------------------------------------------------------

@pytest.mark.arm64
@pytest.mark.skipif(not have_qemu(), reason="needs qemu-aarch64 (scripts/setup.sh)")
def test_arm64_tools_load_the_cross_sysroot_libraries():
    """`spiree run` of an arm64 vmfb hung on machines with arm64 multiarch libraries installed: the
    guest's loader searched /lib/aarch64-linux-gnu (the host's, through qemu) before the sysroot.
    The tool command names the sysroot's library directory explicitly."""
    from spiree.pipeline.iree_tools import tool_command_prefix
    from spiree.targets import TARGETS
    from spiree.targets.fetch_tools import QEMU_SYSROOT

    prefix = tool_command_prefix(TARGETS["arm64"])
    loader = f"{QEMU_SYSROOT}/lib/ld-linux-aarch64.so.1"
    p = subprocess.run([*prefix[:-1], loader, "--list", prefix[-1]], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    resolved = dict(re.findall(r"^\s*(lib\S+) => (\S+)", p.stdout, re.M))
    assert "libc.so.6" in resolved, p.stdout
    assert all(path.startswith(f"{QEMU_SYSROOT}/lib/") for path in resolved.values()), p.stdout


# --- the runtime verification (a real IREE runtime, a desktop JVM) --------------------------------

def test_verify_runtime_skips_in_one_line_without_an_iree_tree(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IREE_SOURCE_DIR"}
    p = subprocess.run([sys.executable, str(VERIFY)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.count("\n") == 1
    assert p.stdout.startswith("verify_android_runtime: skipped: no IREE source tree; set IREE_SOURCE_DIR")
    assert "git clone --branch v3.13.0" in p.stdout
    p = subprocess.run([sys.executable, str(VERIFY), "--iree-source", str(tmp_path)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 1
    assert p.stdout.strip() == f"verify_android_runtime: FAILED: {tmp_path} is not an IREE source tree " \
                               f"(no runtime/src/iree/runtime/api.h)"


@pytest.mark.iree_source
@pytest.mark.slow
def test_java_api_on_the_real_runtime_matches_spiree_run():
    """scripts/verify_android_runtime.py: host + aarch64 builds with the module's CMake, the public
    Java API on a desktop JVM against `spiree run` (max abs error 0), error paths, leak check, and
    the aarch64 library under qemu against `spiree run` of the arm64 vmfbs."""
    p = subprocess.run([sys.executable, str(VERIFY)], capture_output=True, text=True, timeout=5400)
    if "verify_android_runtime: skipped:" in p.stdout:
        pytest.skip(p.stdout.strip())
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert "aarch64 cross build:" in p.stdout and "(AArch64, linked with -z defs" in p.stdout
    java = re.findall(r"Java API vs `spiree run`: max abs error (\S+) over (\d+) values", p.stdout)
    arm64 = re.findall(r"aarch64 library under qemu vs `spiree run`: max abs error (\S+) over (\d+) values", p.stdout)
    assert len(java) == 2 and len(arm64) == 4, p.stdout
    assert all(float(e) == 0.0 and int(n) > 0 for e, n in java + arm64), p.stdout
    assert len(re.findall(r"RuntimeCheck: \d+ checks, 0 failure\(s\)", p.stdout)) == 2, p.stdout
    assert len(re.findall(r"^\s*error \w+: ", p.stdout, re.M)) == 2 * 7, p.stdout
    assert p.stdout.count("jni_harness: ok:") == 4 and "verify_android_runtime: ok" in p.stdout
