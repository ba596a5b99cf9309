"""Pattern 3: churn risk trained on synced data, scored nightly, written back through Connect (docs/scoring.md)."""
