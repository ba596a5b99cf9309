"""What the model ops page shows (/ops/model): the current model's card and charts, runs, risks, candidates.

Charts are numbers here and SVG in web/templates/ops/_model_charts.html (no script), like the sync
console's history chart: every point arrives as fractions (0–1) of the chart's axes, with the labels
it needs, so the template owns only geometry and colours.
"""

from psycopg import sql

from core import journey
from core.scoring import runs as scoring_runs

# The registry's rows without their artifacts, read here rather than through core.scoring.registry,
# which imports skops and scikit-learn: the web dynos never load a model, and should not pay for it.
MODELS = """
SELECT version, created_at, status, reason, train_cutoff, validate_cutoff, horizon_days, features, metrics,
       trained_seconds
  FROM {app}.scoring_models ORDER BY version DESC LIMIT %(limit)s
"""
TOP_RISK = """
SELECT id, sfid, name, accountnumber, churn_risk__c AS risk, churn_risk_band__c AS band,
       churn_risk_scored_at__c AS scored_at
  FROM {connect}.account
 WHERE churn_risk__c IS NOT NULL AND sfid IS NOT NULL
 ORDER BY churn_risk__c DESC, id
 LIMIT %(limit)s
"""
BANDS = """
SELECT churn_risk_band__c AS band, count(*) AS n FROM {connect}.account
 WHERE churn_risk__c IS NOT NULL GROUP BY 1
"""
METRIC_NAMES = (("roc_auc", "ROC AUC", "higher is better"), ("pr_auc", "PR AUC", "higher is better"),
                ("brier", "Brier score", "lower is better"), ("top_decile_lift", "Top-decile lift", "higher is better"))


def roc_chart(metrics: dict) -> dict:
    """The model's ROC curve and both baselines' (already fractions), with their AUCs for the legend."""
    baselines = metrics.get("baseline_roc_curves", {})
    return {"series": [
        {"name": "model", "auc": metrics["model"]["roc_auc"], "points": metrics["roc_curve"]},
        *({"name": name, "auc": metrics["baselines"][name]["roc_auc"], "points": baselines[name]}
          for name in ("logistic", "recency") if name in baselines),
    ]}


def calibration_chart(metrics: dict) -> dict:
    """Observed churn against mean predicted risk by decile, on a shared 0–top scale."""
    rows = metrics["calibration"]
    top = max([r["mean_predicted"] for r in rows] + [r["observed"] for r in rows] + [0.01])
    return {"top": top, "points": [(r["mean_predicted"] / top, r["observed"] / top, r["decile"], r["n"])
                                   for r in rows]}


def bars(values: list[tuple[str, float]]) -> dict:
    """Labelled values as bar lengths, fractions of the largest (negative ones drawn as zero)."""
    top = max([v for _, v in values] + [0.0]) or 1.0
    return {"top": top, "bars": [(label, max(v, 0.0) / top, v) for label, v in values]}


def lift_chart(metrics: dict) -> dict:
    """Lift over the base churn rate by decile of predicted risk (1 = highest risk)."""
    return bars([(str(r["decile"]), r["lift"]) for r in metrics["lift"]])


def importance_chart(metrics: dict, limit: int = 12) -> dict:
    """The largest permutation importances (drop in ROC AUC when a feature is shuffled)."""
    return bars([(r["feature"], r["importance"]) for r in metrics["importances"][:limit]])


def histogram_chart(runs: list[dict]) -> dict | None:
    """The latest finished run's score distribution, with the run before it as a line (drift)."""
    done = [r for r in runs if r["state"] == "finished" and sum(r["histogram"])]
    if not done:
        return None
    latest = done[0]
    previous = done[1] if len(done) > 1 else None

    def shares(run):
        total = sum(run["histogram"])
        return [c / total for c in run["histogram"]]

    now = shares(latest)
    before = shares(previous) if previous else None
    top = max(now + (before or []))
    return {"run": latest["id"], "previous": previous["id"] if previous else None, "top": top,
            "bins": len(now), "now": [s / top for s in now], "before": [s / top for s in before] if before else None}


def page(conn, cfg, *, top: int = 20) -> dict:
    """Everything /ops/model shows."""
    q = {k: sql.SQL(v).format(connect=sql.Identifier(cfg.connect_schema), app=sql.Identifier(cfg.app_schema))
         for k, v in {"models": MODELS, "top": TOP_RISK, "bands": BANDS}.items()}
    rows = conn.execute(q["models"], {"limit": 20}).fetchall()
    current_row = next((r for r in rows if r["status"] == "current"), None)
    runs = scoring_runs.recent_runs(conn, cfg)
    active = next((r for r in runs if r["state"] in ("queued", "running")), None)
    risky = [{**r, "url": journey.record_url(cfg, "Account", r["sfid"])}
             for r in conn.execute(q["top"], {"limit": top})]
    data = {
        "model": current_row, "metric_names": METRIC_NAMES,
        "candidates": [r for r in rows if r["status"] == "candidate"],
        "runs": runs, "active": scoring_runs.progress(conn, active["id"], cfg) if active else None,
        "risky": risky, "bands": {r["band"]: r["n"] for r in conn.execute(q["bands"])},
        "histogram": histogram_chart(runs),
        "estimate": scoring_runs.estimate(conn, cfg, current_row["version"]) if current_row else None,
    }
    if current_row is not None:
        metrics = current_row["metrics"]
        data.update(roc=roc_chart(metrics), calibration=calibration_chart(metrics), lift=lift_chart(metrics),
                    importances=importance_chart(metrics))
    return data
