"""Small utilities every layer uses: atomic file writes, seeding and RNG state, fault points."""
