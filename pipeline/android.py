"""Stage `android`: an arm64 Artifact -> an Android library module with the model in its assets.

    DIR/                              (the spiree Android library module, from targets/android/spiree)
      build.gradle, src/main/java/dev/spiree/..., src/main/cpp/... (JNI bridge + CMake)
      src/main/assets/spiree/model.vmfb
      src/main/assets/spiree/model.json   (the manifest `spiree compile` writes, checked against
                                           targets/android/model.schema.json)

With `assets_only`, only the two asset files are written (into DIR/src/main/assets/spiree/), for
a module that already has the library sources. Nothing here needs the Android SDK.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import targets as _targets_pkg
from .artifact import Artifact
from .errors import ArtifactError

ANDROID_DIR = Path(_targets_pkg.__file__).resolve().parent / "android"
MODULE_TEMPLATE = ANDROID_DIR / "spiree"
SCHEMA_PATH = ANDROID_DIR / "model.schema.json"
ASSETS_SUBDIR = Path("src/main/assets/spiree")
# The executable format the Android runtime (embedded-ELF loader, arm64-v8a) can load.
ANDROID_EXECUTABLE_FORMAT = "embedded-elf-arm_64"
# A line in the template's build.gradle that marks a directory as a spiree module (safe to refresh).
MODULE_MARKER = "spiree-android-module"
# Template files that are not part of a generated module.
_SKIP = {"build", ".gradle", ".cxx", "assets", "test"}


@dataclass(frozen=True)
class AndroidBundle:
    module_dir: Path
    vmfb: Path
    manifest: Path
    wrote_module: bool


def runtime_version() -> str:
    """The IREE runtime version the Android module is built against (= spiree's pinned runtime)."""
    return metadata.version("iree-base-runtime")


def host_tools_dir() -> Path:
    """IREE's host tools (iree-flatcc-cli, iree-c-embed-data) in the installed iree-base-runtime
    wheel: what the module's CMake needs as IREE_HOST_BIN_DIR for an NDK (cross) build."""
    import iree._runtime_libs as libs

    return Path(libs.__file__).resolve().parent


def check_android_artifact(artifact: Artifact) -> None:
    """Refuse artifacts the Android runtime cannot run: other targets, other IREE versions."""
    m = artifact.manifest
    fmt = m.get("executable_format")
    if fmt != ANDROID_EXECUTABLE_FORMAT or ANDROID_EXECUTABLE_FORMAT.encode() not in artifact.vmfb:
        raise ArtifactError(
            f"this artifact was compiled for target {m.get('target')!r} ({fmt}), which Android arm64-v8a "
            f"cannot load: recompile it with `spiree compile MODEL --target arm64` or pass the model to "
            f"`spiree android` directly"
        )
    want = runtime_version()
    have = str(m.get("versions", {}).get("iree-base-compiler", "unknown"))
    if _release(have) != _release(want):
        raise ArtifactError(
            f"this artifact was compiled with IREE {have} but the Android runtime is IREE {want} "
            f"(IREE bytecode is only guaranteed to load in the same release): recompile it with this "
            f"spiree (iree-base-compiler=={want})"
        )


def _release(version: str) -> str:
    m = re.match(r"\d+\.\d+\.\d+", version)
    return m.group(0) if m else version


def write_bundle(artifact: Artifact, out_dir: "str | Path", *, assets_only: bool = False) -> AndroidBundle:
    """Write the Android module (unless `assets_only`) and the model assets into `out_dir`."""
    check_android_artifact(artifact)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out} is a file: pass a directory for the Android module with -o DIR")
    wrote_module = False
    if out.resolve() == MODULE_TEMPLATE.resolve():
        assets_only = True  # the repository's own module: it has the sources already
    if not assets_only:
        _check_can_write_module(out)
        _copy_template(out)
        wrote_module = True
    assets = out / ASSETS_SUBDIR
    manifest = dict(artifact.manifest)
    manifest["vmfb_sha256"] = hashlib.sha256(artifact.vmfb).hexdigest()
    validate_manifest(manifest)
    # Artifact.save writes model.vmfb and model.json (the very manifest `spiree compile` writes).
    vmfb = Artifact(artifact.vmfb, manifest).save(assets / "model.vmfb")
    return AndroidBundle(out, vmfb, assets / "model.json", wrote_module)


def _check_can_write_module(out: Path) -> None:
    if not out.is_dir() or not any(out.iterdir()):
        return
    for name in ("build.gradle", "build.gradle.kts"):
        gradle = out / name
        if gradle.is_file() and MODULE_MARKER not in gradle.read_text(errors="replace"):
            raise ArtifactError(
                f"{out} is an existing Gradle module that spiree did not write: pass --assets-only to "
                f"write just the model into {out / ASSETS_SUBDIR}, or -o a new directory"
            )
    if not any((out / n).is_file() for n in ("build.gradle", "build.gradle.kts")):
        raise ArtifactError(
            f"{out} is a non-empty directory that is not a Gradle module: -o a new or empty directory "
            f"(or pass --assets-only to write just {ASSETS_SUBDIR}/model.vmfb and model.json)"
        )


def _copy_template(out: Path) -> None:
    for src in sorted(MODULE_TEMPLATE.rglob("*")):
        rel = src.relative_to(MODULE_TEMPLATE)
        if _SKIP & set(rel.parts[:-1] if src.is_file() else rel.parts) or src.name == "__pycache__":
            continue
        dst = out / rel
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


# --- model.json schema -----------------------------------------------------------------------

def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate_manifest(manifest: Any, schema: dict[str, Any] | None = None) -> None:
    """Check `manifest` against targets/android/model.schema.json; ArtifactError naming the field.

    Implements the JSON Schema keywords the schema uses (type, required, properties, items,
    minItems, const, enum, pattern, minimum, minLength, $ref to #/$defs), so the schema file stays
    the single source of truth without a jsonschema dependency.
    """
    schema = schema or load_schema()
    problem = _first_problem(manifest, schema, schema, "model.json")
    if problem:
        raise ArtifactError(f"{problem}: the manifest does not match model.schema.json; recompile the model")


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _first_problem(value: Any, schema: dict, root: dict, where: str) -> str | None:
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref!r} in the schema")
        schema = root["$defs"][ref[len("#/$defs/"):]]
    if "const" in schema and value != schema["const"]:
        return f"{where} must be {schema['const']!r}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {', '.join(map(repr, schema['enum']))}, got {value!r}"
    t = schema.get("type")
    if t is not None and not _is_type(value, t):
        return f"{where} must be of type {t}, got {type(value).__name__} {value!r}"[:300]
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where} must not be empty"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{where} {value!r} does not match {schema['pattern']!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "minimum" in schema:
        if value < schema["minimum"]:
            return f"{where} must be >= {schema['minimum']}, got {value}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where} must have at least {schema['minItems']} item(s)"
        for i, item in enumerate(value):
            if "items" in schema and (p := _first_problem(item, schema["items"], root, f"{where}[{i}]")):
                return p
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{where} is missing the required field {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value and (p := _first_problem(value[key], sub, root, f"{where}.{key}")):
                return p
    return None


def _is_type(value: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[t])


def next_steps(bundle: AndroidBundle) -> str:
    """What to do after `spiree android`, as printed by the CLI."""
    mod = bundle.module_dir.resolve()
    v = runtime_version()
    steps = [
        f"  1. Get the IREE {v} runtime source (once), and the NDK + CMake 3.31.6 (IREE needs >= 3.26):",
        f"       git clone --branch v{v} --depth 1 https://github.com/iree-org/iree.git ~/iree-{v}",
        f"       (cd ~/iree-{v} && bash build_tools/scripts/git/update_runtime_submodules.sh)",
    ]
    if bundle.wrote_module:
        steps += [
            "  2. In your app's settings.gradle:",
            f"       include ':spiree'; project(':spiree').projectDir = file('{mod}')",
            f"     and in gradle.properties: spiree.ireeSourceDir=/absolute/path/to/iree-{v}",
            f"       spiree.ireeHostBinDir={host_tools_dir()}   (IREE's host tools, this machine's)",
            "  3. In your app's build.gradle: dependencies { implementation project(':spiree') }",
        ]
    else:
        steps += ["  2. Rebuild the app: the module's assets now hold the new model."]
    shape = ", ".join(str(d) for d in json.loads(bundle.manifest.read_text())["inputs"][0]["shape"])
    n = 4 if bundle.wrote_module else 3
    steps += [f"  {n}. Kotlin: SpireeAndroid.load(context).use {{ m -> val out = m.run(input, {shape}) }}"]
    return "next steps:\n" + "\n".join(steps)
