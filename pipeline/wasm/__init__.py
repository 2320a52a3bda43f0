"""Runner "wasm": execute a wasm32 artifact on this machine, running IREE's real wasm code.

A wasm32 `.vmfb` holds its dispatch code as WebAssembly side modules (executable format
`system-wasm-wasm_32`), meant for IREE's web runtime in a browser. The stock host runtime has
no loader for them, so `spiree run`/`spiree.load` derive a *host twin* of the artifact. One job
per module, in the order they are used:

1. `vmfb.py`: `parse_vmfb` finds the rodata segments of the module flatbuffer: the wasm
   executables and the executable-format string the VM code selects them with.
2. `module.py`: `read_wasm_executable` reads what the bridge needs from each wasm executable
   (its dylink.0 memory info) and refuses one that imports what the bridge does not provide.
3. `twin.py`: `host_twin` appends, for each wasm executable, a tiny host shared library (the
   stub of `targets/wasm/stub.c`, carrying the sha256 of the wasm bytes) after the archive,
   points the segment at it, and renames the format to this host's system library format
   (`system-elf-x86_64` or `system-elf-arm_64`). The wasm bytes are not touched; they stay in
   the twin's rodata too.
4. `bridge.py`: `bridge()` builds the bridge (`targets/wasm/bridge.c`) and the stub template
   with the system C compiler, once, into a cache directory.
5. `binding.py`: `BridgeLib`, the ctypes view of the loaded bridge: register a wasm module
   (Wasmtime compiles and instantiates it, the bridge calls its library query and builds the
   64-bit library the stub returns), and the bridge's clocks (`stats`, `profile`).
6. `runner.py`: `WasmRunner` registers each wasm module with the bridge, then the stock
   `iree.runtime` loads the twin (dlopen of the stubs) on the chosen device (`local-sync` or
   `local-task` with N workers) and every dispatch runs in Wasmtime. The bridge runs a
   dispatch's whole workgroup grid in one call inside wasm (one Wasmtime store per
   executable), so extra local-task workers overlap IREE's own fills and copies with it, never
   one dispatch's workgroups with each other: wasm32 times are one-thread times.
   `WasmToolRunner` runs the twin under IREE's `iree-run-module` instead.

What is cached, under `$SPIREE_CACHE`: the bridge build (`wasm-bridge-<key>/`, keyed by its
sources, compiler, flags, arch and Wasmtime), and the twins that IREE's own tools read from files
(`twin.cached_twin`: `wasm-twins/<key>/`, keyed by the vmfb bytes and the bridge build), so
neither can be stale. `WasmRunner` derives its twin in memory on each load (a few byte patches,
no compiler) and caches nothing of it. The twin never replaces or ships as the artifact.
"""
