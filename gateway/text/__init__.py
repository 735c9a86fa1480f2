"""Simplified → Traditional conversion in Hong Kong and Macao usage."""
