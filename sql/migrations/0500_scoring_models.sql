-- The churn model registry (docs/scoring.md): every trained model, its training window, features,
-- metrics on the holdout and its artifact (skops, never pickle: loading runs no code of the file's choosing).
-- At most one model is 'current'; a model that did not beat it stays a 'candidate' with the reason.
CREATE TABLE {app_schema}.scoring_models (
    version          serial PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL CHECK (status IN ('current', 'candidate', 'retired')),
    reason           text NOT NULL DEFAULT '',
    train_cutoff     date NOT NULL,
    validate_cutoff  date NOT NULL CHECK (validate_cutoff > train_cutoff),
    horizon_days     integer NOT NULL CHECK (horizon_days > 0),
    features         text[] NOT NULL,
    metrics          jsonb NOT NULL,
    artifact         bytea NOT NULL,
    trained_seconds  real NOT NULL DEFAULT 0
);

-- The promotion rule's guarantee, held by the database: never two current models.
CREATE UNIQUE INDEX scoring_models_one_current ON {app_schema}.scoring_models ((true)) WHERE status = 'current';
