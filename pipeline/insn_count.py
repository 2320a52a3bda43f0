"""Count the instructions an aarch64 program executes under qemu-user, with spiree's TCG plugin
(`targets/qemu/insn_count.c`): per guest thread, and inside the code regions the program makes
executable with `mprotect` (IREE's embedded-ELF executables) per entry point.

    report = run_counted(["/path/iree-benchmark-module", "--module=m.vmfb", ...])
    report.vcpus[0].outside, report.entries[0].insns, report.regions[0].data

The plugin is a shared library for this machine, built once with the system C compiler and
cached in `$SPIREE_CACHE/qemu-plugin-<hash>/` (the hash covers the source, the compiler and its
flags). `qemu-aarch64` 7.2 (Debian 12) has TCG plugins compiled in; the plugin speaks API version 1.
Counting works on any host, an arm64 one included (qemu-user runs there too).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..targets import fetch_tools
from .errors import RunError
from .runtime import qemu_prefix

SOURCE = Path(__file__).resolve().parent.parent / "targets" / "qemu" / "insn_count.c"
_FLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Werror")


@dataclass(frozen=True)
class Vcpu:
    index: int
    outside: int  # instructions executed outside every code region
    inside: int  # instructions executed inside code regions


@dataclass(frozen=True)
class Region:
    index: int
    start: int  # guest address
    data: bytes  # the region's bytes when it was made executable

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass(frozen=True)
class Entry:
    region: int
    address: int  # guest address where a thread came into the region's code
    insns: int  # instructions executed from this entry until leaving the region
    entered: int  # times a thread came in here


@dataclass(frozen=True)
class CountReport:
    vcpus: tuple[Vcpu, ...]
    regions: tuple[Region, ...]
    entries: tuple[Entry, ...]
    stdout: str

    @property
    def total(self) -> int:
        return sum(v.outside + v.inside for v in self.vcpus)

    @property
    def inside(self) -> int:
        return sum(v.inside for v in self.vcpus)

    @property
    def outside(self) -> int:
        return sum(v.outside for v in self.vcpus)


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("clang") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RunError("no C compiler (clang or cc) on PATH to build the instruction-count plugin: "
                       "run scripts/setup.sh (installs clang)")
    return cc


def plugin(*, source: Path = SOURCE) -> Path:
    """The built plugin (`insn_count.so`), compiled on first use and cached by content hash."""
    cc = _compiler()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    h = hashlib.sha256()
    for part in (source.read_bytes(), cc.encode(), "\0".join(version).encode(), " ".join(_FLAGS).encode()):
        h.update(hashlib.sha256(part).digest())
    dest = fetch_tools.cache_root() / f"qemu-plugin-{h.hexdigest()[:16]}"
    lib = dest / "insn_count.so"
    if lib.is_file():
        return lib
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        out = Path(tmp) / "insn_count.so"
        proc = subprocess.run([cc, *_FLAGS, "-o", str(out), str(source), "-lpthread"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RunError(f"{cc} could not build the qemu instruction-count plugin {source}: "
                           f"{proc.stderr.strip()[:500]}")
        if not dest.is_dir():
            os.rename(tmp, dest)
            os.mkdir(tmp)  # TemporaryDirectory removes a path that exists again
    return lib


def run_counted(command: Sequence[str], *, env: dict[str, str] | None = None) -> CountReport:
    """Run the aarch64 program `command` (program path + arguments) under qemu-aarch64 with the
    instruction-count plugin; raise RunError if it fails, return the plugin's report."""
    so = plugin()
    with tempfile.TemporaryDirectory(prefix="spiree-count-") as tmp:
        report = Path(tmp) / "report.txt"
        qemu, *rest = qemu_prefix()
        cmd = [qemu, "-plugin", f"{so},out={report}", *rest, *command]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env} if env else None)
        if proc.returncode != 0:
            msg = next((l for l in proc.stderr.splitlines() if l.strip()), f"exit status {proc.returncode}")
            raise RunError(f"{Path(command[0]).name} failed under qemu with the instruction-count plugin: {msg.strip()[:400]}")
        if not report.is_file():
            raise RunError(f"the instruction-count plugin wrote no report ({proc.stderr.strip()[:300]}); "
                           f"is qemu-aarch64 built with TCG plugins (QEMU >= 4.2)?")
        return parse_report(report.read_text(), stdout=proc.stdout)


def parse_report(text: str, *, stdout: str = "") -> CountReport:
    lines = text.splitlines()
    if not lines or lines[0] != "spiree-insn-count 1":
        raise RunError(f"not an instruction-count report (first line {lines[:1]})")
    vcpus, regions, entries = [], [], []
    for line in lines[1:]:
        kind, _, rest = line.partition(" ")
        f = rest.split()
        if kind == "error":
            raise RunError(f"the instruction-count plugin failed: {rest}")
        if kind == "vcpu":
            vcpus.append(Vcpu(int(f[0]), int(f[1]), int(f[2])))
        elif kind == "region":
            data = Path(f[3]).read_bytes()
            if len(data) != int(f[2]):
                raise RunError(f"region dump {f[3]} holds {len(data)} bytes, the report says {f[2]}")
            regions.append(Region(int(f[0]), int(f[1], 16), data))
        elif kind == "entry":
            entries.append(Entry(int(f[0]), int(f[1], 16), int(f[2]), int(f[3])))
        else:
            raise RunError(f"unexpected line in the instruction-count report: {line!r}")
    entries.sort(key=lambda e: (e.region, e.address))
    return CountReport(tuple(vcpus), tuple(regions), tuple(entries), stdout)
