"""The crisis early-warning core: causal features, the risk scorer, its training data and NAB scoring.

Pure Python on numpy/pandas/LightGBM (no Django ORM), so it runs the same in a Celery task, in the
`backtest_risk` command and in a benchmark, and is tested on plain arrays.
"""
