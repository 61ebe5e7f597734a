"""Experiment tracking: experiments, runs, params, metric series, tags, datasets, search."""
