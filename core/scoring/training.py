"""Train the churn model, measure it against two baselines on a later holdout, register it (docs/scoring.md).

Time-based split: features as of the train cut-off (today − 2 × horizon) with labels from the
horizon after it train the models; features as of the validate cut-off (today − horizon) with the
labels of the horizon after it (which ends today) measure them. The holdout is later than anything
the model saw, as tomorrow's accounts will be.

The model is a HistGradientBoostingClassifier. The baselines, on the same holdout: logistic
regression on the same features (standardised), and a recency-only rule (the churn rate of
training accounts with the same days since their last order, fitted monotone). Everything that
draws random numbers takes `seed`, so the same data and seed give the same metrics.
"""

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from core.scoring import features as feature_sql
from core.scoring import registry

HORIZON_DAYS = 60
CURVE_POINTS = 101
# Permutation importance predicts the holdout once per feature and repeat: a sample keeps it to seconds.
IMPORTANCE_ROWS = 20_000
IMPORTANCE_REPEATS = 3
RECENCY = feature_sql.FEATURES.index("days_since_last_order")
# One thread: OpenMP's threads busy-wait for each other, and on a dyno whose cores are shared (or
# busy with the web process) a 200-tree fit took 30 times longer with two threads than with one.
THREADS = 1


class NotEnoughHistory(ValueError):
    """The synced data cannot train a model: too few accounts, or only one outcome in a window."""


def cutoffs(today: date, horizon_days: int = HORIZON_DAYS) -> tuple[date, date]:
    """The train and validate cut-offs for a training run on `today`."""
    return today - timedelta(days=2 * horizon_days), today - timedelta(days=horizon_days)


def dataset(conn, cfg, cutoff: date, horizon_days: int = HORIZON_DAYS) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Account ids, features and labels (1 = churned) as of `cutoff`."""
    ids, X = feature_sql.extract(conn, cfg, cutoff)
    churned = feature_sql.labels(conn, cfg, cutoff, horizon_days)
    y = np.array([churned[i] for i in ids], dtype=np.int64)
    if len(y) < 20 or y.min() == y.max():
        raise NotEnoughHistory(f"{len(y)} accounts with order history before {cutoff}, "
                               f"{int(y.sum())} of them churned: need both outcomes to train")
    return ids, X, y


def model(seed: int) -> HistGradientBoostingClassifier:
    """The churn model, untrained. No early stopping: its random validation split would depend on row order.

    50 trees of up to 31 leaves: scoring predicts every account every night, one walk per tree and
    row, so fewer, larger trees. Against 200 trees of 15 leaves they predict in a third of the time,
    with the same holdout ROC AUC at 2,000 accounts and a higher one at 100,000 (docs/scoring.md).
    """
    return HistGradientBoostingClassifier(max_iter=50, learning_rate=0.15, max_leaf_nodes=31, min_samples_leaf=40,
                                          l2_regularization=1.0, early_stopping=False, random_state=seed)


def logistic_baseline(seed: int):
    """Logistic regression on the same features, standardised."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))


class RecencyRule:
    """Churn probability from days since the last order alone: the training churn rate at that recency."""

    def fit(self, X, y):
        self.curve = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0, y_max=1)
        self.curve.fit(X[:, RECENCY], y)
        self.span = max(float(X[:, RECENCY].max()), 1.0)
        return self

    def predict_proba(self, X):
        # Isotonic steps tie many accounts; breaking ties by recency itself keeps the rule's full ranking.
        p = np.clip(self.curve.predict(X[:, RECENCY]) + 1e-9 * X[:, RECENCY] / self.span, 0, 1)
        return np.column_stack([1 - p, p])


def _r(x: float) -> float:
    return round(float(x), 6)


def _deciles(p: np.ndarray) -> list[np.ndarray]:
    """Row indices in ten equal groups, highest predicted risk first (ties by position: deterministic)."""
    return np.array_split(np.argsort(-p, kind="stable"), 10)


def summary(y: np.ndarray, p: np.ndarray) -> dict:
    """ROC AUC, PR AUC, Brier score and the lift of the top decile."""
    top = _deciles(p)[0]
    return {"roc_auc": _r(roc_auc_score(y, p)), "pr_auc": _r(average_precision_score(y, p)),
            "brier": _r(brier_score_loss(y, p)), "top_decile_lift": _r(y[top].mean() / y.mean())}


def curve(y: np.ndarray, p: np.ndarray) -> list[list[float]]:
    """The ROC curve at 101 evenly spaced false positive rates, from (0, 0) to (1, 1)."""
    fpr, tpr, _ = roc_curve(y, p)
    grid = np.linspace(0, 1, CURVE_POINTS)
    rates = np.interp(grid, fpr, tpr)
    rates[0] = 0.0  # where the curve starts, before the first threshold lets any account through
    return [[_r(f), _r(t)] for f, t in zip(grid, rates, strict=True)]


def calibration(y: np.ndarray, p: np.ndarray) -> list[dict]:
    """Mean predicted against observed churn by decile of predicted risk (1 = lowest risk)."""
    groups = reversed(_deciles(p))
    return [{"decile": k, "mean_predicted": _r(p[g].mean()), "observed": _r(y[g].mean()), "n": int(len(g))}
            for k, g in enumerate(groups, start=1)]


def lift(y: np.ndarray, p: np.ndarray) -> list[dict]:
    """Churn rate and lift over the base rate by decile of predicted risk (1 = highest risk)."""
    base = y.mean()
    return [{"decile": k, "lift": _r(y[g].mean() / base), "rate": _r(y[g].mean())}
            for k, g in enumerate(_deciles(p), start=1)]


def importances(estimator, X: np.ndarray, y: np.ndarray, seed: int) -> list[dict]:
    """Permutation importance on the holdout (drop in ROC AUC when a feature is shuffled), largest first."""
    result = permutation_importance(estimator, X, y, scoring="roc_auc", n_repeats=IMPORTANCE_REPEATS,
                                    random_state=seed, max_samples=min(1.0, IMPORTANCE_ROWS / len(y)))
    rows = [{"feature": name, "importance": _r(m), "std": _r(s)}
            for name, m, s in zip(feature_sql.FEATURES, result.importances_mean, result.importances_std, strict=True)]
    return sorted(rows, key=lambda r: (-r["importance"], r["feature"]))


def evaluate(fitted: dict, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """The metrics JSON the registry keeps and the ops page draws, from fitted model and baselines."""
    p = {name: est.predict_proba(X)[:, 1] for name, est in fitted.items()}
    return {
        "model": summary(y, p["model"]),
        "baselines": {name: summary(y, p[name]) for name in ("logistic", "recency")},
        "roc_curve": curve(y, p["model"]),
        "baseline_roc_curves": {name: curve(y, p[name]) for name in ("logistic", "recency")},
        "calibration": calibration(y, p["model"]),
        "lift": lift(y, p["model"]),
        "importances": importances(fitted["model"], X, y, seed),
        "validate_rows": int(len(y)),
        "positive_rate": _r(y.mean()),
    }


def decide(current: registry.Model | None, new_auc: float, X: np.ndarray, y: np.ndarray) -> tuple[bool, str]:
    """The promotion rule: promote only if the new model's ROC AUC beats the current one's on this holdout."""
    if current is None:
        return True, "first model"
    if not set(current.features) <= set(feature_sql.FEATURES):
        return True, f"current v{current.version} uses features that are no longer computed"
    columns = [feature_sql.FEATURES.index(name) for name in current.features]
    current_auc = _r(roc_auc_score(y, current.predict(X[:, columns])))
    if new_auc > current_auc:
        return True, f"ROC AUC {new_auc:.4f} beats current v{current.version}'s {current_auc:.4f} on the same holdout"
    return False, (f"ROC AUC {new_auc:.4f} does not beat current v{current.version}'s {current_auc:.4f} "
                   "on the same holdout")


def train(conn, cfg, *, today: date | None = None, seed: int = 0, horizon_days: int = HORIZON_DAYS) -> dict:
    """Train, measure against the baselines, register with the promotion rule; return the registry row."""
    today = today or datetime.now(UTC).date()
    train_cutoff, validate_cutoff = cutoffs(today, horizon_days)
    started = time.perf_counter()
    _, X_train, y_train = dataset(conn, cfg, train_cutoff, horizon_days)
    _, X_valid, y_valid = dataset(conn, cfg, validate_cutoff, horizon_days)
    with threadpool_limits(THREADS):
        fitted = {"model": model(seed).fit(X_train, y_train),
                  "logistic": logistic_baseline(seed).fit(X_train, y_train),
                  "recency": RecencyRule().fit(X_train, y_train)}
        trained_seconds = time.perf_counter() - started
        metrics = evaluate(fitted, X_valid, y_valid, seed) | {"train_rows": int(len(y_train))}
    with conn.transaction():
        registry.lock(conn, cfg)
        promote, reason = decide(registry.current(conn, cfg), metrics["model"]["roc_auc"], X_valid, y_valid)
        row = registry.register(conn, cfg, promote=promote, reason=reason, estimator=fitted["model"],
                                train_cutoff=train_cutoff, validate_cutoff=validate_cutoff, horizon_days=horizon_days,
                                features=feature_sql.FEATURES, metrics=metrics,
                                trained_seconds=round(trained_seconds, 2))
    return dict(row)
