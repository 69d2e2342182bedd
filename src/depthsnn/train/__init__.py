"""Training: loss (:mod:`.losses`), checkpoints and loops (depth metrics: :mod:`depthsnn.metrics`)."""
