"""Compilation targets as data.

A target is a frozen record: LLVM triple, CPU and features, SIMD width, the executable format
IREE emits for it, the IREE flags that select it, and how this machine executes its artifacts.
Nothing else in spiree branches on a target's name; it reads these fields.

This package imports nothing of spiree.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field

__all__ = ["Target", "TARGETS", "get_target", "target_names"]


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    triple: str
    cpu: str
    cpu_features: str
    # f32 lanes of one SIMD register (NEON/SIMD128: 4, AVX2: 8, AVX-512: 16).
    vector_f32_lanes: int
    # IREE's executable format key for hal.executable.objects / variants.
    executable_format: str
    # Machine architecture whose CPU executes this target natively (`platform.machine()`).
    arch: str
    # How an artifact runs on this machine: "in-process" (iree.runtime), "qemu" (aarch64 tools
    # under qemu-user when not on arm64), "wasm" (the wasm bridge, see docs/targets.md).
    runner: str
    # clang flags that build spiree's C microkernels for this target's executables.
    kernel_cflags: tuple[str, ...] = field(default=())
    # SIMD registers available to a microkernel tile (accumulators + operands).
    vector_registers: int = 16
    extra_flags: tuple[str, ...] = field(default=())
    # (iree-compile flag naming the linker, extra linker arguments): spiree runs IREE's linker
    # through a wrapper adding the arguments (wasm32: strip the name section, which records a
    # random temporary file name and would make every .vmfb differ).
    linker_wrap: tuple[str, tuple[str, ...]] | None = None

    def iree_flags(self) -> list[str]:
        """The iree-compile flags that select this target."""
        flags = [
            "--iree-hal-target-device=local",
            "--iree-hal-local-target-device-backends=llvm-cpu",
            f"--iree-llvmcpu-target-triple={self.triple}",
        ]
        if self.cpu:
            flags.append(f"--iree-llvmcpu-target-cpu={self.cpu}")
        if self.cpu_features:
            flags.append(f"--iree-llvmcpu-target-cpu-features={self.cpu_features}")
        flags.extend(self.extra_flags)
        return flags

    @property
    def is_native(self) -> bool:
        return _normalize_arch(platform.machine()) == self.arch


def _normalize_arch(machine: str) -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())


def host_arch() -> str:
    """This machine's architecture, spelled as in target triples (x86_64, aarch64, ...)."""
    return _normalize_arch(platform.machine())


def _host_f32_lanes() -> int:
    """SIMD f32 lanes of this machine's CPU, read from /proc/cpuinfo (x86) or the arch."""
    arch = _normalize_arch(platform.machine())
    if arch == "aarch64":
        return 4
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    if " avx512f" in flags:
        return 16
    if " avx2" in flags or " avx " in flags:
        return 8
    return 4


def _host_target() -> Target:
    arch = _normalize_arch(platform.machine())
    triple = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}.get(
        arch, f"{arch}-unknown-linux-gnu"
    )
    fmt = {"x86_64": "embedded-elf-x86_64", "aarch64": "embedded-elf-arm_64"}.get(
        arch, f"embedded-elf-{arch}"
    )
    return Target(
        name="host",
        description="this machine's CPU (development; artifacts are not portable)",
        triple=triple,
        cpu="host",
        cpu_features="host",
        vector_f32_lanes=_host_f32_lanes(),
        executable_format=fmt,
        arch=arch,
        runner="in-process",
        kernel_cflags=(f"--target={arch}-none-elf", "-march=native"),
        vector_registers=32 if _host_f32_lanes() == 16 or arch == "aarch64" else 16,
    )


_ARM64_COMMON = dict(
    cpu="generic",
    cpu_features="+neon",
    vector_f32_lanes=4,
    executable_format="embedded-elf-arm_64",
    arch="aarch64",
    runner="qemu",
    kernel_cflags=("--target=aarch64-none-elf", "-march=armv8-a+simd"),
    vector_registers=32,
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        _host_target(),
        Target(
            name="arm64",
            description="Android arm64-v8a (NEON); embedded-ELF, so the vmfb also runs on arm64 Linux",
            triple="aarch64-linux-android30",
            **_ARM64_COMMON,
        ),
        Target(
            name="arm64-linux",
            description="arm64 Linux (NEON)",
            triple="aarch64-unknown-linux-gnu",
            **_ARM64_COMMON,
        ),
        Target(
            name="wasm32",
            description="WebAssembly with SIMD128 (side modules; run here under Wasmtime)",
            triple="wasm32-unknown-emscripten",
            cpu="generic",
            cpu_features="+simd128",
            vector_f32_lanes=4,
            executable_format="system-wasm-wasm_32",
            arch="wasm32",
            runner="wasm",
            kernel_cflags=("--target=wasm32-unknown-unknown", "-msimd128", "-fPIC"),
            vector_registers=16,
            linker_wrap=("--iree-llvmcpu-wasm-linker-path", ("--strip-all",)),
        ),
    )
}


def target_names() -> list[str]:
    return list(TARGETS)


def get_target(name: "str | Target") -> Target:
    """Parse a target name; the error lists the valid names."""
    if isinstance(name, Target):
        return name
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(
            f"unknown target {name!r}: choose one of {', '.join(TARGETS)} (see `spiree targets`)"
        ) from None
