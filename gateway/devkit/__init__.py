"""Bundled examples and the conformance kits' common shape: tools, not production paths."""
