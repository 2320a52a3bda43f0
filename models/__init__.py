"""spiree.models."""
