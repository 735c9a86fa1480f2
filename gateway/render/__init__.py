"""From an accepted application to a signed agency document."""
