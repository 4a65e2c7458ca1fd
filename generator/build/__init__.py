"""The build: the plan, the pipeline over layers, workers, lock, estimates, model zoos and comparisons."""
