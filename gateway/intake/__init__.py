"""Guangdong applications read and checked against their item."""
