"""Running a queue: the runner, its inference child, the sampler, energy and aggregation."""
