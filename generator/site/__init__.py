"""Rendering: Jinja2 pages from the records in an output directory; imports no Keras and no backend."""
