"""Experiments over many runs: searches (Optuna studies), repeated seeds and comparisons.

Each trial or seed is an ordinary run folder made by ``siamface.pipeline.train``, so every
command that works on a run works on it; this part only decides what to train and collects
what the runs wrote.
"""
