"""Release engineering: rollouts of prompt labels and model aliases through shadow, canary
and full stages, promoted or rolled back on candidate-vs-control evidence (docs/rollouts.md)."""
