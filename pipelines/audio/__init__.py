"""Audio: streaming decode, voice activity, segments, signals, fingerprints, near-duplicates."""
