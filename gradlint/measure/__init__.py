"""measure: a model run to measure it — the probe (a short seeded forward and backward pass) and the
dry run (a few steps of the user's optimizer on a copy of the model)."""
