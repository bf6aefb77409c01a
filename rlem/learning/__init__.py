"""The learning layer: the update rule, the Q tables (double Q), the write path, the trajectory
log and the run journal."""
