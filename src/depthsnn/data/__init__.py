"""Event data: MVSEC reader, event encoding, depth targets, splits, cache and the synthetic generator."""
