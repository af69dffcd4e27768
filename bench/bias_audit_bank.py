"""Benchmark: an end-to-end bias audit on real data, through the production registry path.

On the UCI Bank Marketing data (`fairness/bank-full.csv`, 45,211 contacts of a Portuguese bank's
term-deposit campaign), train a targeting model with LightGBM on every column but `duration` (the
call's length, known only after the call: it leaks the answer), on a random 70/30 split stratified
by the outcome (seed 42), and report its held-out AUC next to the published 0.80 (Moro, Cortez &
Rita 2014). The rows are in time order (May 2008 to November 2010), so the AUC of a time-ordered
split (first 70% to train, last 30% to test) is reported too: the campaign's later months answer
very differently, which a random split hides.

The model then goes through the SAME path as a model trained in a tenant: a bench tenant declares
one sensitive attribute, `age_band` (<=25, 26-35, 36-55, 56-65, >65), the artifact (LightGBM's model
text) is registered with `model_version_register`, audited with `model_version_audit` (the
targeting decision is the top 20% of scores: who a campaign would call), and
`model_version_activate` is tried as the system would. The table shows, per band, the held-out
count, the model's selection rate with its 95% bootstrap interval, its true and false positive
rates, and the band's real subscription rate in the held-out data: the audit should report the
disparity the data really has.

Speed: `audit_s` (the registry's audit: fairlearn MetricFrame plus 1,000 bootstrap resamples,
stored with the version and its card) next to `metricframe_s`, fairlearn's MetricFrame of
selection rate alone on the same arrays, measured in the same run.

    .venv/bin/python bench/bias_audit_bank.py [--data ../shared/data/fairness/bank-full.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common

DEFAULT_DATA = _common.REPO.parent / "shared" / "data" / "fairness" / "bank-full.csv"
PUBLISHED_AUC = 0.80  # Moro, Cortez & Rita (2014), Decision Support Systems 62:22-31
TOP_FRACTION = 0.2
SEED = 42
SLUG = _common.SLUG_PREFIX + "bias-audit"


def _key(band: str) -> str:
    return band.replace("<=", "le").replace(">", "gt").replace("-", "_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default {DEFAULT_DATA}")
    args = parser.parse_args()
    if not args.data.is_file():
        parser.error(f"{args.data} does not exist")

    was_running = _common.django_start()
    try:
        _common.database_prepare()
        run(args.data)
    finally:
        _common.bench_data_drop()
        _common.database_stop(was_running)


def _train(frame, train_idx, test_idx):  # type: ignore[no-untyped-def]
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    features = [c for c in frame.columns if c not in ("y", "duration")]
    model = lgb.LGBMClassifier(
        n_estimators=400,
        learning_rate=0.03,
        num_leaves=31,
        min_child_samples=40,
        random_state=SEED,
        verbose=-1,
    )
    model.fit(frame.loc[train_idx, features], frame.loc[train_idx, "y"])
    scores = model.predict_proba(frame.loc[test_idx, features])[:, 1]
    return model, features, scores, float(roc_auc_score(frame.loc[test_idx, "y"], scores))


def run(data: Path) -> None:
    import numpy as np
    import pandas as pd
    from django.core.exceptions import ValidationError
    from django_tenants.utils import tenant_context
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.model_selection import train_test_split

    from ethics import fairness
    from ethics.models import FairnessSettings
    from ethics.services import model_version_activate, model_version_audit, model_version_register
    from tenants.services import tenant_create

    frame = pd.read_csv(data, sep=";")
    frame["y"] = (frame["y"] == "yes").astype(int)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("category")

    train_idx, test_idx = train_test_split(frame.index, test_size=0.3, stratify=frame["y"], random_state=SEED)
    model, features, scores, auc = _train(frame, train_idx, test_idx)
    cut = int(len(frame) * 0.7)
    _, _, _, auc_time = _train(frame, frame.index[:cut], frame.index[cut:])

    held_out = frame.loc[test_idx]
    bands = [fairness.age_band(int(age)) for age in held_out["age"]]
    truth = held_out["y"].to_numpy()

    tenant = tenant_create(name="Bench bias audit", slug=SLUG)
    with tenant_context(tenant):
        age = {"name": "age_band", "source": "birth_year", "key": "birth_year"}
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": [age]})
        version = model_version_register(
            kind="engagement",
            artifact=model.booster_.model_to_string().encode(),
            artifact_name="model.txt",
            trained_by=None,
            purpose="Choose which bank customers a term-deposit campaign calls (UCI Bank Marketing).",
            algorithm="LightGBM",
            training_rows=len(train_idx),
            features=features,
            metrics={"auc": auc},
        )
        started = time.perf_counter()
        version = model_version_audit(
            version=version, scores=scores.tolist(), top_fraction=TOP_FRACTION, y_true=truth.tolist(),
            sensitive={"age_band": bands},
        )  # fmt: skip
        audit_s = time.perf_counter() - started
        try:
            model_version_activate(version=version, by=None)
            activated = 1
        except ValidationError:
            activated = 0

    decisions = fairness.decisions_from_scores(scores, top_fraction=TOP_FRACTION)
    started = time.perf_counter()
    MetricFrame(metrics=selection_rate, y_true=truth, y_pred=decisions, sensitive_features=np.array(bands))
    metricframe_s = time.perf_counter() - started

    report = version.audit_report
    attribute = report["attributes"][0]
    data_rates = held_out.assign(band=bands).groupby("band", observed=True)["y"].mean().to_dict()
    figures: dict[str, float] = {
        "auc": auc,
        "auc_time_split": auc_time,
        "published_auc": PUBLISHED_AUC,
        "held_out_rows": len(test_idx),
        "top_fraction": TOP_FRACTION,
    }
    rows = []
    for group in attribute["groups"]:
        band, ci = group["group"], group["selection_rate_ci"]
        key = _key(band)
        figures |= {
            f"n_{key}": group["count"],
            f"sel_rate_{key}": group["selection_rate"],
            f"sel_rate_{key}_ci_low": ci["low"],
            f"sel_rate_{key}_ci_high": ci["high"],
            f"tpr_{key}": group["true_positive_rate"],
            f"fpr_{key}": group["false_positive_rate"],
            f"data_rate_{key}": data_rates[band],
        }
        rows.append(
            [
                band,
                str(group["count"]),
                f"{group['selection_rate']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]",
                f"{group['true_positive_rate']:.3f}",
                f"{group['false_positive_rate']:.3f}",
                f"{data_rates[band]:.3f}",
                group["warning"] or "judged",
            ]
        )
    figures |= {
        "dp_ratio": attribute["dp_ratio"],
        "dp_ratio_ci_low": attribute["dp_ratio_ci"]["low"],
        "dp_ratio_ci_high": attribute["dp_ratio_ci"]["high"],
        "dp_difference": attribute["dp_difference"],
        "dp_difference_ci_low": attribute["dp_difference_ci"]["low"],
        "dp_difference_ci_high": attribute["dp_difference_ci"]["high"],
        "eo_difference": attribute["eo_difference"],
        "eo_difference_ci_low": attribute["eo_difference_ci"]["low"],
        "eo_difference_ci_high": attribute["eo_difference_ci"]["high"],
        # The same ratio on the real outcomes: the disparity the data itself has.
        "data_rate_ratio": min(data_rates.values()) / max(data_rates.values()),
        "passed": int(report["passed"]),
        "activated": activated,
        "audit_s": audit_s,
        "metricframe_s": metricframe_s,
    }

    print(
        f"LightGBM targeting model: held-out AUC {auc:.3f} (random stratified split), "
        f"{auc_time:.3f} (time-ordered split); published {PUBLISHED_AUC:.2f}"
    )
    print(f"Audit by age band, decision = top {TOP_FRACTION:.0%} of scores, {len(test_idx)} held-out rows:\n")
    _common.table_print(
        ["age band", "n", "selection rate [95% CI]", "TPR", "FPR", "real subscription rate", "note"], rows
    )
    ratio, ratio_ci = attribute["dp_ratio"], attribute["dp_ratio_ci"]
    print(
        f"\nselection-rate ratio {ratio:.3f} [{ratio_ci['low']:.3f}, {ratio_ci['high']:.3f}], "
        f"difference {attribute['dp_difference']:.3f}, "
        f"equalized odds difference {attribute['eo_difference']:.3f}"
    )
    print(f"real subscription-rate ratio between bands {figures['data_rate_ratio']:.3f}")
    verdict = "passed" if report["passed"] else "FAILED"
    print(f"audit {verdict}: {'; '.join(report['failures']) or 'no failures'}")
    print(f"activation by the system: {'done' if activated else 'refused'}")
    print(f"audit {audit_s:.2f} s (fairlearn MetricFrame alone {metricframe_s:.3f} s)")
    path = _common.results_write("bias_audit_bank", figures)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
