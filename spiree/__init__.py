"""spiree: compile group-sparse pruned CNNs for arm64 and wasm32 with IREE."""
