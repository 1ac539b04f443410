"""Stage logic: DataFrame -> DataFrame transforms and the per-partition bodies. No job wiring."""
