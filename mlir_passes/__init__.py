"""spiree.mlir_passes."""
