"""`scones retrain`: retrain on reviewed labels, challenge the model in service, gate, register,
promote (docs/retraining.md)."""
