"""spiree.pipeline."""
