"""Churn scoring, the model half: features as of a cut-off, training against baselines, the registry."""

import os
import secrets
from datetime import date, timedelta

import numpy as np
import pytest
import skops.io as sio
from psycopg import sql
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import FunctionTransformer
from skops.io.exceptions import UntrustedTypesFoundException

from core import config, db
from core.migrate import migrate
from core.scoring import features, registry, training
from standins import demo_data
from standins.connect.writes import write_as_connect
from standins.provision import provision

# Schemas of this module's own: its demo data and registry touch no other test's rows.
SCHEMA, APP_SCHEMA = "scoring_sf", "scoring_app"
SCALE = {"accounts": 2_000, "orders": 20_000}
TODAY = date(2026, 6, 30)
TRAIN_CUTOFF, VALIDATE_CUTOFF = training.cutoffs(TODAY)


def quiet(*_):
    """Swallow progress messages."""


def _drop(conn):
    for schema in (SCHEMA, APP_SCHEMA):
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def cfg(database_url, redis_url):
    """The app's configuration, pointed at this module's schemas."""
    return config.load({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": secrets.token_hex(32),
                        "APP_ENV": "test", "CONNECT_SCHEMA": SCHEMA, "APP_SCHEMA": APP_SCHEMA})


@pytest.fixture(scope="module")
def db_conn(cfg):
    """A connection to a database with this module's demo data: 2,000 accounts, 20,000 orders, seed 42."""
    with db.connect(cfg.database_url) as conn:
        _drop(conn)
        provision(conn, SCHEMA, log=quiet)
        migrate(conn, APP_SCHEMA, SCHEMA, log=quiet)
        demo_data.load(conn, **SCALE, schema=SCHEMA, app_schema=APP_SCHEMA, today=TODAY, log=quiet)
        yield conn
        _drop(conn)


def _weak_model():
    """A one-tree model fitted on the training window: a current model any real training should beat."""
    return HistGradientBoostingClassifier(max_iter=1, max_leaf_nodes=2, early_stopping=False, random_state=0)


@pytest.fixture(scope="module")
def trainings(db_conn, cfg):
    """A weak model made current by hand, then two trainings with the same seed on the same day."""
    _, X, y = training.dataset(db_conn, cfg, TRAIN_CUTOFF)
    with db_conn.transaction():
        registry.lock(db_conn, cfg)
        weak = registry.register(db_conn, cfg, promote=True, reason="first model", estimator=_weak_model().fit(X, y),
                                 train_cutoff=TRAIN_CUTOFF - timedelta(days=7),
                                 validate_cutoff=VALIDATE_CUTOFF - timedelta(days=7), horizon_days=60,
                                 features=features.FEATURES, metrics={}, trained_seconds=0)
    first = training.train(db_conn, cfg, today=TODAY, seed=0)
    second = training.train(db_conn, cfg, today=TODAY, seed=0)
    return weak, first, second


def test_features_are_one_row_per_account_with_orders_before_the_cutoff(db_conn, cfg):
    ids, X = features.extract(db_conn, cfg, VALIDATE_CUTOFF)
    with_history = db_conn.execute(sql.SQL(
        'SELECT count(DISTINCT a.id) AS n FROM {s}.account a JOIN {s}."order" o ON o.accountid = a.sfid'
        " WHERE o.effectivedate < %s").format(s=sql.Identifier(SCHEMA)), (VALIDATE_CUTOFF,)).fetchone()["n"]
    assert X.shape == (with_history, len(features.FEATURES)) and 1_500 < with_history < SCALE["accounts"]
    assert ids == sorted(set(ids)) and not np.isnan(X).any()
    recency = X[:, features.FEATURES.index("days_since_last_order")]
    assert recency.min() >= 1
    assert list(features.labels(db_conn, cfg, VALIDATE_CUTOFF)) == ids
    some = ids[:5]
    assert features.extract(db_conn, cfg, VALIDATE_CUTOFF, account_ids=some)[0] == some


# Column sums of the feature matrix of this module's demo data as of VALIDATE_CUTOFF, from the extraction as it was
# before it read chunks by id range through covering indexes (and before the product-mix features were dropped and
# amounts summed in cents): the rewrites must return the same values.
MATRIX_SUMS_BEFORE_THE_REWRITE = [
    163996.0, 876070.0, 2298785.0, 1045.0, 3204.0, 6409.0, 12259.0, 26798713.93, 82650884.63, 160493523.3,
    292781311.04, -69.744793, -793.576724, 1006.886391, 184484.758488, 3258.346215, 41033491.458319,
    188.0, 696.0, 20.0, 6524.0, 198.230736, 138.0,
]


def test_features_by_id_range_are_the_same_matrix_as_for_all_accounts(db_conn, cfg):
    ids, X = features.extract(db_conn, cfg, VALIDATE_CUTOFF)
    assert len(ids) == 1_819
    assert np.allclose(X.sum(axis=0), MATRIX_SUMS_BEFORE_THE_REWRITE, rtol=1e-9, atol=1e-6)
    # Chunks as a run plans them — open at both ends — cover every account once, with the same rows.
    edges = [None, ids[400], ids[401], ids[1_200], None]
    parts = [features.extract(db_conn, cfg, VALIDATE_CUTOFF, id_range=(lo, hi))
             for lo, hi in zip(edges, edges[1:], strict=False)]
    assert [len(p[0]) for p in parts] == [400, 1, 799, 619]
    assert sum((p[0] for p in parts), []) == ids
    assert np.array_equal(np.vstack([p[1] for p in parts]), X)
    by_list = features.extract(db_conn, cfg, VALIDATE_CUTOFF, account_ids=ids[400:1_200])
    assert by_list[0] == ids[400:1_200] and np.array_equal(by_list[1], X[400:1_200])


# What happens after the cut-off: new orders, items added to earlier orders, cases and invoices, and changes to rows
# dated after it.
AFTER_THE_CUTOFF = ["""
INSERT INTO {s}."order" (sfid, accountid, status, statuscode, effectivedate, totalamount, createddate, systemmodstamp,
                         isdeleted)
SELECT 'x' || lpad(a.id::text, 17, '0'), a.sfid, 'Activated', 'Activated', %(cutoff)s::date + (a.id %% 30)::integer,
       999999, %(cutoff)s::timestamp + interval '1 hour', %(cutoff)s::timestamp + interval '1 hour', false
  FROM {s}.account a
""", """
UPDATE {s}."order" SET totalamount = totalamount * 10 WHERE effectivedate >= %(cutoff)s
""", """
INSERT INTO {s}.orderitem (sfid, orderid, product2id, quantity, unitprice, totalprice, createddate, systemmodstamp,
                           isdeleted)
SELECT 'w' || lpad(o.id::text, 17, '0'), o.sfid, (SELECT min(sfid) FROM {s}.product2), 1, 5000, 5000,
       %(cutoff)s::timestamp + interval '2 hours', %(cutoff)s::timestamp + interval '2 hours', false
  FROM {s}."order" o
 WHERE o.effectivedate >= %(cutoff)s::date - 30 AND o.effectivedate < %(cutoff)s
""", """
INSERT INTO {s}."case" (sfid, accountid, casenumber, status, isclosed, createddate, systemmodstamp, isdeleted)
SELECT 'y' || lpad(a.id::text, 17, '0'), a.sfid, 'X' || a.id, 'New', false, %(cutoff)s::timestamp,
       %(cutoff)s::timestamp, false
  FROM {s}.account a
""", """
UPDATE {s}."case" SET status = 'Closed', isclosed = true, closeddate = %(cutoff)s::timestamp + interval '1 day'
 WHERE closeddate IS NULL
""", """
INSERT INTO {s}.invoice__c (sfid, account__c, period__c, status__c, due_date__c, createddate, systemmodstamp,
                            isdeleted)
SELECT 'z' || lpad(a.id::text, 17, '0'), a.sfid, '2099-01', 'Issued', %(cutoff)s::date + 10, %(cutoff)s::timestamp,
       %(cutoff)s::timestamp, false
  FROM {s}.account a
""", """
UPDATE {s}.invoice__c SET paid_date__c = %(cutoff)s::date WHERE paid_date__c IS NULL
"""]


def test_no_feature_reads_anything_at_or_after_the_cutoff(db_conn, cfg):
    ids, before = features.extract(db_conn, cfg, TRAIN_CUTOFF)
    churned_before = features.labels(db_conn, cfg, TRAIN_CUTOFF)
    with db_conn.transaction(force_rollback=True):
        write_as_connect(db_conn)
        for statement in AFTER_THE_CUTOFF:
            db_conn.execute(sql.SQL(statement).format(s=sql.Identifier(SCHEMA)), {"cutoff": TRAIN_CUTOFF})
        after_ids, after = features.extract(db_conn, cfg, TRAIN_CUTOFF)
        churned_after = features.labels(db_conn, cfg, TRAIN_CUTOFF)
    assert after_ids == ids and np.array_equal(after, before)
    # The rows were there to be read: every account now orders in the horizon, so no label says churned.
    assert sum(churned_before.values()) > 0 and sum(churned_after.values()) == 0


def test_a_change_before_the_cutoff_does_change_the_features(db_conn, cfg):
    ids, before = features.extract(db_conn, cfg, TRAIN_CUTOFF)
    with db_conn.transaction(force_rollback=True):
        db_conn.execute(sql.SQL('UPDATE {}."order" SET totalamount = totalamount + 1000 WHERE effectivedate = %s')
                        .format(sql.Identifier(SCHEMA)), (TRAIN_CUTOFF - timedelta(days=1),))
        _, after = features.extract(db_conn, cfg, TRAIN_CUTOFF)
    changed = {features.FEATURES[j] for j in np.nonzero((after != before).any(axis=0))[0]}
    assert {"amount_30d", "amount_365d"} <= changed


def test_the_model_beats_both_baselines_on_the_later_holdout(trainings):
    _, first, _ = trainings
    m = first["metrics"]
    assert m["model"]["roc_auc"] >= 0.8
    assert m["model"]["roc_auc"] > m["baselines"]["logistic"]["roc_auc"] > m["baselines"]["recency"]["roc_auc"]
    assert m["model"]["top_decile_lift"] > 1.2


def test_metrics_have_the_shape_the_ops_page_draws(trainings):
    _, first, _ = trainings
    m = first["metrics"]
    for block in (m["model"], m["baselines"]["logistic"], m["baselines"]["recency"]):
        assert set(block) == {"roc_auc", "pr_auc", "brier", "top_decile_lift"}
        assert 0 <= block["roc_auc"] <= 1 and 0 <= block["brier"] <= 1
    for curve in (m["roc_curve"], *m["baseline_roc_curves"].values()):
        assert len(curve) <= 101 and curve[0] == [0, 0] and curve[-1] == [1, 1]
        assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(curve, curve[1:], strict=False))
    assert [c["decile"] for c in m["calibration"]] == list(range(1, 11))
    assert sum(c["n"] for c in m["calibration"]) == m["validate_rows"]
    assert [c["mean_predicted"] for c in m["calibration"]] == sorted(c["mean_predicted"] for c in m["calibration"])
    assert [d["decile"] for d in m["lift"]] == list(range(1, 11)) and m["lift"][0]["lift"] > m["lift"][-1]["lift"]
    assert sorted(i["feature"] for i in m["importances"]) == sorted(features.FEATURES)
    assert m["train_rows"] > 1_000 and 0 < m["positive_rate"] < 1
    assert first["train_cutoff"] == TRAIN_CUTOFF and first["validate_cutoff"] == VALIDATE_CUTOFF


def test_same_seed_same_data_gives_the_same_metrics(trainings):
    _, first, second = trainings
    assert second["metrics"] == first["metrics"]


def test_a_better_model_replaces_the_current_one(db_conn, cfg, trainings):
    weak, first, _ = trainings
    assert first["status"] == "current" and "beats current v" in first["reason"]
    rows = {r["version"]: r for r in registry.models(db_conn, cfg)}
    assert rows[weak["version"]]["status"] == "retired"
    assert registry.current(db_conn, cfg).version == first["version"]


def test_a_model_that_does_not_beat_the_current_one_stays_a_candidate_with_the_reason(db_conn, cfg, trainings):
    _, first, second = trainings
    assert second["status"] == "candidate"
    assert second["reason"] == (f"ROC AUC {second['metrics']['model']['roc_auc']:.4f} does not beat current "
                                f"v{first['version']}'s {first['metrics']['model']['roc_auc']:.4f} on the same holdout")
    assert registry.current(db_conn, cfg).version == first["version"]


def test_the_registry_lists_models_newest_first_without_artifacts(db_conn, cfg, trainings):
    rows = registry.models(db_conn, cfg)
    assert [r["version"] for r in rows] == sorted((r["version"] for r in rows), reverse=True)
    assert all("artifact" not in r for r in rows) and rows[0]["features"] == list(features.FEATURES)


def test_a_saved_model_loads_back_and_predicts_the_same(db_conn, cfg, trainings):
    _, first, _ = trainings
    model = registry.load(db_conn, cfg, first["version"])
    ids, X = features.extract(db_conn, cfg, VALIDATE_CUTOFF)
    rebuilt = registry.loads(registry.dumps(model.estimator))
    assert type(rebuilt) is HistGradientBoostingClassifier
    assert np.array_equal(registry.Model(0, model.features, {}, rebuilt).predict(X), model.predict(X))
    assert model.features == features.FEATURES and 0 < model.predict(X).mean() < 1
    scores = model.score(db_conn, cfg, ids[:50], as_of=TODAY)
    assert list(scores) == ids[:50]
    assert all(0 <= s <= 100 and round(s, 1) == s for s in scores.values())


def test_a_model_is_rebuilt_once_per_process_and_only_while_its_registry_row_is_unchanged(db_conn, cfg, trainings):
    weak, first, _ = trainings
    model = registry.cached(db_conn, cfg, first["version"])
    again = registry.cached(db_conn, cfg, first["version"])
    assert again.estimator is model.estimator and again.status == first["status"]
    ids, X = features.extract(db_conn, cfg, VALIDATE_CUTOFF)
    with db_conn.transaction(force_rollback=True):
        # The same version number with another artifact (a registry restored from elsewhere): rebuilt, not reused.
        db_conn.execute(sql.SQL("UPDATE {app}.scoring_models SET artifact = (SELECT artifact FROM {app}.scoring_models"
                                " WHERE version = %(weak)s), status = 'retired' WHERE version = %(first)s")
                        .format(app=sql.Identifier(APP_SCHEMA)), {"weak": weak["version"], "first": first["version"]})
        replaced = registry.cached(db_conn, cfg, first["version"])
        assert replaced.estimator is not model.estimator and replaced.status == "retired"
        assert np.array_equal(replaced.predict(X), registry.load(db_conn, cfg, weak["version"]).predict(X))
    with pytest.raises(registry.ModelNotFound):
        registry.cached(db_conn, cfg, 10_000)


def test_an_artifact_naming_an_untrusted_type_is_refused(db_conn, cfg, trainings):
    hostile = sio.dumps(FunctionTransformer(func=os.system))
    with pytest.raises(UntrustedTypesFoundException):
        registry.loads(hostile)
    row = db_conn.execute(sql.SQL(
        "INSERT INTO {}.scoring_models (status, train_cutoff, validate_cutoff, horizon_days, features, metrics,"
        " artifact) VALUES ('candidate', %s, %s, 60, %s, '{{}}', %s) RETURNING version"
    ).format(sql.Identifier(APP_SCHEMA)), (TRAIN_CUTOFF, VALIDATE_CUTOFF, list(features.FEATURES), hostile)).fetchone()
    with pytest.raises(UntrustedTypesFoundException):
        registry.load(db_conn, cfg, row["version"])
