"""The agency directory: per agency code, its format, endpoint, timeouts, limits and retries."""
