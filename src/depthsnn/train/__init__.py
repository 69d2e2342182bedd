"""Training: loss (:mod:`.losses`), depth metrics (:mod:`.metrics`), checkpoints and loops."""
