"""The embedded-ELF executables inside an arm64 (or x86-64) `.vmfb`, with their functions.

IREE's llvm-cpu backend links each executable into a small position-independent ELF shared
object (format `embedded-elf-arm_64`) and stores its bytes in the vmfb; IREE's own loader maps it
at run time. This module finds those ELFs in the vmfb's bytes, reads their executable segment,
and names the code ranges:
- dispatch functions (`main_dispatch_3_matmul_...`, spiree's `pointwise_0`, `dwconv_1`, ...) from
  the DWARF subprograms IREE emits (`DW_AT_low_pc`/`high_pc`/`linkage_name`, read with
  `llvm-dwarfdump`): they are not in the symbol table;
- other functions (spiree's kernels, `iree_hal_executable_library_query`) from `.symtab`.

    elfs = embedded_elfs(vmfb)
    elfs[0].function_at(0x10e30).name     # 'dwconv_0'
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import RunError

EM_AARCH64 = 183
EM_X86_64 = 62
_PT_LOAD, _PF_X = 1, 1
_SHT_SYMTAB, _STT_FUNC = 2, 2


@dataclass(frozen=True)
class Function:
    name: str
    start: int  # ELF virtual address
    end: int


@dataclass(frozen=True)
class Segment:
    file_offset: int
    vaddr: int
    filesz: int


@dataclass(frozen=True)
class EmbeddedElf:
    offset: int  # where the ELF starts in the vmfb
    data: bytes
    text: tuple[Segment, ...]  # executable PT_LOAD segments
    functions: tuple[Function, ...]  # sorted by start

    def function_at(self, vaddr: int) -> Function | None:
        """The innermost named function whose range holds `vaddr`."""
        best = None
        for f in self.functions:
            if f.start <= vaddr < f.end and (best is None or f.end - f.start < best.end - best.start):
                best = f
        return best

    def segment_bytes(self, seg: Segment) -> bytes:
        return self.data[seg.file_offset:seg.file_offset + seg.filesz]


def embedded_elfs(vmfb: bytes, *, machine: int = EM_AARCH64) -> list[EmbeddedElf]:
    """Every well-formed 64-bit little-endian ELF shared object for `machine` in `vmfb`."""
    found = []
    pos = vmfb.find(b"\x7fELF")
    while pos >= 0:
        elf = _parse(vmfb, pos, machine)
        if elf is not None:
            found.append(elf)
            pos = vmfb.find(b"\x7fELF", pos + len(elf.data))
        else:
            pos = vmfb.find(b"\x7fELF", pos + 4)
    return found


def _parse(buf: bytes, at: int, machine: int) -> EmbeddedElf | None:
    if len(buf) - at < 64 or buf[at + 4] != 2 or buf[at + 5] != 1:
        return None
    e_type, e_machine = struct.unpack_from("<HH", buf, at + 16)
    if e_type != 3 or e_machine != machine:  # ET_DYN
        return None
    phoff, shoff = struct.unpack_from("<QQ", buf, at + 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", buf, at + 0x36)
    size = max(phoff + phentsize * phnum, shoff + shentsize * shnum)
    if phentsize != 56 or shentsize != 64 or at + size > len(buf):
        return None
    data = bytes(buf[at:at + size])
    text = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * 56)
        if p_type == _PT_LOAD and p_flags & _PF_X:
            text.append(Segment(p_offset, p_vaddr, p_filesz))
    functions = {(f.start, f.end): f for f in _symtab_functions(data, shoff, shnum)}
    functions.update({(f.start, f.end): f for f in _dwarf_functions(data)})
    return EmbeddedElf(at, data, tuple(text), tuple(sorted(functions.values(), key=lambda f: (f.start, f.end))))


def _symtab_functions(data: bytes, shoff: int, shnum: int) -> list[Function]:
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * 64) for i in range(shnum)]
    out = []
    for sh in sections:
        if sh[1] != _SHT_SYMTAB:
            continue
        strtab = sections[sh[6]]
        strings = data[strtab[4]:strtab[4] + strtab[5]]
        for off in range(sh[4], sh[4] + sh[5], 24):
            st_name, st_info, _, _, st_value, st_size = struct.unpack_from("<IBBHQQ", data, off)
            if st_info & 0xF == _STT_FUNC and st_size > 0:
                name = strings[st_name:strings.index(b"\0", st_name)].decode()
                out.append(Function(name, st_value, st_value + st_size))
    return out


def _dwarfdump() -> str:
    tool = shutil.which("llvm-dwarfdump") or next(
        (t for v in range(20, 13, -1) if (t := shutil.which(f"llvm-dwarfdump-{v}"))), None)
    if not tool:
        raise RunError("llvm-dwarfdump is missing, so dispatch functions cannot be named: run scripts/setup.sh "
                       "(installs llvm)")
    return tool


_DIE = re.compile(r"^0x[0-9a-f]+:\s+(DW_TAG_\w+)", re.M)


def _dwarf_functions(data: bytes) -> list[Function]:
    """Subprograms with an address range, named by linkage name (or name)."""
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(data)
        f.flush()
        proc = subprocess.run([_dwarfdump(), "--debug-info", f.name], capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    text = proc.stdout
    starts = [m for m in _DIE.finditer(text)]
    out = []
    for m, nxt in zip(starts, starts[1:] + [None]):
        if m.group(1) != "DW_TAG_subprogram":
            continue
        die = text[m.end():nxt.start() if nxt else len(text)]
        low = re.search(r"DW_AT_low_pc\s+\((0x[0-9a-f]+)\)", die)
        high = re.search(r"DW_AT_high_pc\s+\((0x[0-9a-f]+)\)", die)
        name = re.search(r"DW_AT_linkage_name\s+\(\"([^\"]+)\"\)", die) or re.search(r"DW_AT_name\s+\(\"([^\"]+)\"\)", die)
        if low and high and name:
            lo, hi = int(low.group(1), 16), int(high.group(1), 16)
            if hi > lo:
                out.append(Function(name.group(1), lo, hi))
    return out


def locate(region_data: bytes, elfs: list[EmbeddedElf]) -> tuple[EmbeddedElf, int] | None:
    """Which ELF's executable segment a loaded code region holds, checked byte for byte (the
    segment's bytes at its page offset in the region): (elf, the ELF virtual address of the
    region's first byte), or None."""
    for elf in elfs:
        for seg in elf.text:
            code = elf.segment_bytes(seg)
            at = region_data.find(code)
            if code and at >= 0 and (seg.vaddr - at) % 4096 == 0:
                return elf, seg.vaddr - at
    return None


def dump(path: Path) -> list[EmbeddedElf]:
    """The embedded ELFs of a .vmfb file (for the command line)."""
    return embedded_elfs(path.read_bytes())


if __name__ == "__main__":
    import sys

    for elf in dump(Path(sys.argv[1])):
        print(f"ELF at {elf.offset:#x}, {len(elf.data)} bytes, text {[(hex(s.vaddr), s.filesz) for s in elf.text]}")
        for fn in elf.functions:
            print(f"  {fn.start:#10x} {fn.end - fn.start:8d}  {fn.name}")
