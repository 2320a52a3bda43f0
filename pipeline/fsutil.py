"""Files that are either complete or absent, and the package's own data files.

- `atomic_write(path, data)` / `publish_file(path, write)`: write a file in a temporary sibling,
  then rename it over `path` (artifacts, manifests, pruned programs, cached scripts).
- `publish_dir(dest, build_into)`: build a directory in a temporary sibling, then rename it to
  `dest` (the caches under `$SPIREE_CACHE`: the wasm bridge, wasm twins, the qemu plugin, the
  aarch64 tools).
- `package_data(package, *parts)`: a file or folder shipped inside a spiree package (C sources,
  the Android module template), found through `importlib.resources`, not relative paths.

Readers never see a half-written file or directory, also when the writer fails half-way or two
processes publish the same thing at once. This module imports only the standard library, so any
spiree folder may use it (`targets/fetch_tools.py` does).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Callable


def publish_file(path: "str | os.PathLike", write: Callable[[Path], None], *, mode: int | None = None) -> Path:
    """Call `write(tmp)` to write a temporary sibling of `path` (same folder, same suffix), then
    rename it to `path`; the sibling is removed if `write` fails. `mode`: the file's permissions
    (default: those of `tempfile.mkstemp`, owner read/write only). Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write(path: "str | os.PathLike", data: "bytes | str", *, mode: int | None = None) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` atomically (see `publish_file`)."""
    raw = data.encode() if isinstance(data, str) else data
    return publish_file(path, lambda tmp: tmp.write_bytes(raw), mode=mode)


def publish_dir(dest: "str | os.PathLike", build_into: Callable[[Path], None], *,
                complete: Callable[[], bool] = lambda: False) -> Path:
    """Call `build_into(tmp)` to fill a temporary sibling directory of `dest`, then rename it to
    `dest`, so `dest` is either complete or absent, also when the build fails half-way (the
    sibling is removed). If `complete()` says another process published `dest` meanwhile, its
    directory is kept; otherwise a `dest` already there (left incomplete, or to be rebuilt) is
    replaced. Returns `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        build_into(Path(tmp))
        if complete():
            return dest
        if dest.exists():
            shutil.rmtree(dest)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not complete():  # lost a race to another publisher: keep its directory
                raise
            return dest
        os.mkdir(tmp)  # TemporaryDirectory cleans up a path that now exists again
    return dest


def package_data(package: str, *parts: str) -> Path:
    """The file or folder `parts` inside the installed spiree package `package` (e.g.
    `package_data("spiree.targets", "wasm")`), as a real path for compilers and copies."""
    found = resources.files(package)
    for part in parts:
        found = found.joinpath(part)
    if not isinstance(found, Path):  # e.g. a zipped install: no path a C compiler can read
        raise FileNotFoundError(f"{package}/{'/'.join(parts)} is not a file on disk ({found!r}): "
                                f"install spiree from a wheel or a checkout, not a zip")
    return found
