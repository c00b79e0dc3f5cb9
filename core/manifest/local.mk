# (filled in by this area)
