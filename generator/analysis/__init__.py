"""Analysis after the images: dataset examples, circuits, neighbours, facets and weight comparison."""
