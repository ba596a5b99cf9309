"""Churn risk: features from the synced tables, the model and its registry (docs/scoring.md)."""
