"""Running functions: the one place that starts user code."""
