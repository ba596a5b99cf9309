"""The model registry: trained churn models in `app.scoring_models`, their artifacts saved with skops.

An artifact is the fitted estimator serialised by `skops.io`, never pickle: pickle runs whatever
code the file names while loading, so a row written by anyone with database access would run code
in every worker. skops rebuilds only types on an explicit list (TRUSTED plus skops's own defaults:
scikit-learn's estimators, numpy arrays, builtins) and refuses a file that names anything else.

Promotion: a newly trained model becomes 'current' only if its ROC AUC beats the current model's
on the same holdout (the new validation cut-off); otherwise it is kept as a 'candidate' and the
row says why. The training code decides; `register` writes the decision under a lock.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import skops.io as sio
from psycopg import sql
from threadpoolctl import ThreadpoolController

from core.scoring import features as feature_sql

# The one type a fitted HistGradientBoostingClassifier needs beyond skops's defaults. A new type
# here is a decision, reviewed like code: anything on this list can be rebuilt from a database row.
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]

COLUMNS = """version, created_at, status, reason, train_cutoff, validate_cutoff, horizon_days, features, metrics,
       trained_seconds"""

CURRENT = "SELECT {columns}, artifact FROM {app}.scoring_models WHERE status = 'current'"
ONE = "SELECT {columns}, artifact FROM {app}.scoring_models WHERE version = %(version)s"
LIST = "SELECT {columns} FROM {app}.scoring_models ORDER BY version DESC LIMIT %(limit)s"
# The row without its artifact, and a digest of the artifact: what a cached model is checked against.
DIGEST = "SELECT {columns}, md5(artifact) AS digest FROM {app}.scoring_models WHERE version = %(version)s"

# Two trainings finishing at once would each compare against the same current model; the lock
# serialises the compare-and-promote, and the unique partial index refuses two current rows anyway.
LOCK = "SELECT pg_advisory_xact_lock(hashtext(%(key)s))"
RETIRE_CURRENT = "UPDATE {app}.scoring_models SET status = 'retired' WHERE status = 'current' RETURNING version"
INSERT = """
INSERT INTO {app}.scoring_models
    (status, reason, train_cutoff, validate_cutoff, horizon_days, features, metrics, artifact, trained_seconds)
VALUES (%(status)s, %(reason)s, %(train_cutoff)s, %(validate_cutoff)s, %(horizon_days)s, %(features)s,
        %(metrics)s::jsonb, %(artifact)s, %(trained_seconds)s)
RETURNING {columns}
"""


class ModelNotFound(LookupError):
    """No model with that version in the registry."""


@dataclass
class Model:
    """A registered model, its estimator rebuilt from the skops artifact."""

    version: int
    features: tuple
    metrics: dict
    estimator: object = field(repr=False)
    status: str = "current"
    horizon_days: int = 60

    def predict(self, X) -> np.ndarray:
        """The probability of churn for each row of X (columns in `features` order), in [0, 1]."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return np.zeros(0)
        with _threads().limit(limits=1):  # as in training: busy-waiting OpenMP threads cost more than they give
            return np.clip(self.estimator.predict_proba(X)[:, 1], 0.0, 1.0)

    def score(self, conn, cfg, account_ids, as_of: date, *, id_range=None) -> dict[int, float]:
        """Churn risk 0–100 (one decimal) for those of `account_ids` (None: all, or those of `id_range`,
        `(lo, hi)` as in features.extract) with order history before `as_of`."""
        ids, X = feature_sql.extract(conn, cfg, as_of, account_ids=None if account_ids is None else list(account_ids),
                                     id_range=id_range)
        columns = [feature_sql.FEATURES.index(name) for name in self.features]
        scores = np.round(self.predict(X[:, columns]) * 100, 1)
        return dict(zip(ids, scores.tolist(), strict=True))


_CONTROLLER: list[ThreadpoolController] = []


def _threads() -> ThreadpoolController:
    """This process's thread-pool controller: finding the native libraries takes milliseconds, so once."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def dumps(estimator) -> bytes:
    """The estimator as a skops artifact."""
    return sio.dumps(estimator)


def loads(artifact: bytes):
    """Rebuild an estimator from a skops artifact; an untrusted type raises UntrustedTypesFoundException."""
    return sio.loads(bytes(artifact), trusted=TRUSTED)


def _q(text: str, cfg) -> sql.Composed:
    return sql.SQL(text).format(app=sql.Identifier(cfg.app_schema), columns=sql.SQL(COLUMNS))


def _model(row: dict) -> Model:
    return Model(version=row["version"], features=tuple(row["features"]), metrics=row["metrics"],
                 estimator=loads(row["artifact"]), status=row["status"], horizon_days=row["horizon_days"])


def current(conn, cfg) -> Model | None:
    """The model scoring uses, or None before the first training."""
    row = conn.execute(_q(CURRENT, cfg)).fetchone()
    return _model(row) if row else None


def load(conn, cfg, version: int) -> Model:
    """A model by version, whatever its status."""
    row = conn.execute(_q(ONE, cfg), {"version": version}).fetchone()
    if row is None:
        raise ModelNotFound(f"no scoring model version {version}")
    return _model(row)


# Models already rebuilt in this process, by (version, artifact digest): rebuilding one from its skops
# artifact costs ~0.3 s, paid once per process rather than once per chunk. Nothing here outlives the
# process or decides anything: a miss (a new process, a new model, a row replaced under the same
# version number) just loads the row again.
_CACHE: dict[tuple[int, str], object] = {}
_CACHE_SIZE = 2  # the current model and the one before it, while a run with the old one finishes


def cached(conn, cfg, version: int) -> Model:
    """A model by version, as load() returns it, reusing the estimator this process already rebuilt.

    The registry row is read every time (without the artifact) and the artifact's digest must match
    the cached one, so a model retired, replaced or deleted since is never served from the cache.
    """
    row = conn.execute(_q(DIGEST, cfg), {"version": version}).fetchone()
    if row is None:
        raise ModelNotFound(f"no scoring model version {version}")
    key = (row["version"], row["digest"])
    estimator = _CACHE.get(key)
    if estimator is None:
        full = conn.execute(_q(ONE, cfg), {"version": version}).fetchone()
        if full is None:
            raise ModelNotFound(f"no scoring model version {version}")
        # The key from the artifact actually rebuilt (Postgres's md5 of a bytea is the md5 of its bytes).
        key = (full["version"], hashlib.md5(bytes(full["artifact"])).hexdigest())
        estimator = loads(full["artifact"])
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = estimator
    return Model(version=row["version"], features=tuple(row["features"]), metrics=row["metrics"],
                 estimator=estimator, status=row["status"], horizon_days=row["horizon_days"])


def models(conn, cfg, limit: int = 20) -> list[dict]:
    """The latest registry rows, newest first, without their artifacts."""
    return conn.execute(_q(LIST, cfg), {"limit": limit}).fetchall()


def lock(conn, cfg) -> None:
    """Hold the registry's promotion lock until the caller's transaction ends."""
    conn.execute(LOCK, {"key": f"scoring_models:{cfg.app_schema}"})


def register(conn, cfg, *, promote: bool, reason: str, estimator, train_cutoff: date, validate_cutoff: date,
             horizon_days: int, features: tuple, metrics: dict, trained_seconds: float) -> dict:
    """Insert a model as 'current' (retiring the one before) or 'candidate'; call holding lock()."""
    if promote:
        conn.execute(_q(RETIRE_CURRENT, cfg))
    return conn.execute(_q(INSERT, cfg), {
        "status": "current" if promote else "candidate", "reason": reason, "train_cutoff": train_cutoff,
        "validate_cutoff": validate_cutoff, "horizon_days": horizon_days, "features": list(features),
        "metrics": json.dumps(metrics), "artifact": dumps(estimator), "trained_seconds": trained_seconds,
    }).fetchone()
