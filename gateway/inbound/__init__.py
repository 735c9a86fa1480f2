"""What agencies send the gateway: stored raw first, verified, then applied or quarantined."""
