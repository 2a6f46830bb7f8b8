"""Step layer: reference lookup, skip decisions and provenance around the pure algorithms."""
