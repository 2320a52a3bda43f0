"""The vmfb archive, read without IREE: a zip local header, the size-prefixed module flatbuffer,
then the external rodata. `parse_vmfb` locates every rodata segment (where its bytes are, and
the fields that say so, for `twin.py` to patch).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import RunError

SEGMENT_ALIGNMENT = 64  # IREE_VM_ARCHIVE_SEGMENT_ALIGNMENT

# Field ordinals in IREE's bytecode_module_def.fbs (iree.vm.BytecodeModuleDef / RodataSegmentDef).
_MODULE_RODATA_SEGMENTS = 9
_SEGMENT_EMBEDDED_DATA = 2  # 0/1 are the compression_type union (type, value)
_SEGMENT_EXTERNAL_OFFSET = 3
_SEGMENT_EXTERNAL_LENGTH = 4


@dataclass(frozen=True)
class RodataSegment:
    index: int
    data_offset: int  # absolute offset of the bytes in the file
    length: int
    external: bool
    table: int  # absolute offset of the RodataSegmentDef table
    length_field: int  # absolute offset of the u32 vector length (embedded) or u64 (external)
    offset_field: int  # absolute offset of the u64 external_data_offset (external only)


@dataclass(frozen=True)
class VmfbLayout:
    rodata_base: int  # absolute offset that external_data_offset is relative to
    segments: tuple[RodataSegment, ...]


class _Flatbuffer:
    def __init__(self, data: bytes, start: int):
        self.d = data
        self.start = start

    def u16(self, p): return struct.unpack_from("<H", self.d, p)[0]
    def u32(self, p): return struct.unpack_from("<I", self.d, p)[0]
    def i32(self, p): return struct.unpack_from("<i", self.d, p)[0]
    def u64(self, p): return struct.unpack_from("<Q", self.d, p)[0]

    def field(self, table: int, ordinal: int) -> int:
        """Absolute offset of a table field, or 0 when absent."""
        vtable = table - self.i32(table)
        vsize = self.u16(vtable)
        slot = 4 + 2 * ordinal
        if slot >= vsize:
            return 0
        off = self.u16(vtable + slot)
        return table + off if off else 0

    def deref(self, p: int) -> int:
        return p + self.u32(p)


def parse_vmfb(vmfb: bytes) -> VmfbLayout:
    """Locate the rodata segments of an IREE bytecode module archive."""
    try:
        base = 0
        if vmfb[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack_from("<HH", vmfb, 26)
            base = 30 + name_len + extra_len
        size = struct.unpack_from("<I", vmfb, base)[0]
        fb_start = base + 4
        if vmfb[fb_start + 4:fb_start + 8] != b"IREE" or fb_start + size > len(vmfb):
            raise ValueError("no IREE module flatbuffer")
        rodata_base = -(-(fb_start + size) // SEGMENT_ALIGNMENT) * SEGMENT_ALIGNMENT
        fb = _Flatbuffer(vmfb, fb_start)
        root = fb.deref(fb_start)
        segs_field = fb.field(root, _MODULE_RODATA_SEGMENTS)
        segments = []
        if segs_field:
            vec = fb.deref(segs_field)
            for i in range(fb.u32(vec)):
                table = fb.deref(vec + 4 + 4 * i)
                emb = fb.field(table, _SEGMENT_EMBEDDED_DATA)
                if emb:
                    v = fb.deref(emb)
                    segments.append(RodataSegment(i, v + 4, fb.u32(v), False, table, v, 0))
                    continue
                off_f = fb.field(table, _SEGMENT_EXTERNAL_OFFSET)
                len_f = fb.field(table, _SEGMENT_EXTERNAL_LENGTH)
                off = fb.u64(off_f) if off_f else 0
                length = fb.u64(len_f) if len_f else 0
                segments.append(RodataSegment(i, rodata_base + off, length, True, table, len_f, off_f))
        for s in segments:
            if s.data_offset + s.length > len(vmfb):
                raise ValueError(f"rodata segment {s.index} lies outside the file")
        return VmfbLayout(rodata_base, tuple(segments))
    except (struct.error, IndexError, ValueError) as e:
        raise RunError(f"the .vmfb is not a valid IREE module ({e}): recompile it with `spiree compile`") from None
