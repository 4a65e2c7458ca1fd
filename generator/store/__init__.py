"""The output directory: every path, format number, record reader and writer, and tile files."""
