"""Guangdong service items (every version), loaded and checked."""
