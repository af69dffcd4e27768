"""Alerting: detection (pure numpy, `detectors`), and the services that turn detections into alerts
and deliver them."""
