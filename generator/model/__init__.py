"""Model access: backends, loading, layers, feature extractors, preprocessing, precision and the machine."""
