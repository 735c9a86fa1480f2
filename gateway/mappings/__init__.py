"""The mapping engine; the YAML data lives in the top-level ``mappings/`` package."""
