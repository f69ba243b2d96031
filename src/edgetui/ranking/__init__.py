"""Rankings: criteria, rank and Pareto front, exports, and `edgetui rank`."""
