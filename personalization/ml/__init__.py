"""The personalization ML core: engagement model, recommendations, segmentation and uplift.

Pure Python on numpy/pandas arrays (scikit-learn, LightGBM, scipy), with no Django ORM imports, so
every piece is testable on plain arrays and callable from services and Celery tasks. Models
serialize to JSON text (LightGBM's own model string inside), never pickle.
"""
