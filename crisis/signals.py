"""The crisis app's own signals. Scheduled snapshots are written in one statement (a catch-up is
hundreds of rows), so no post_save fires for them: the scoring run sends `risk_scored` once, with
the snapshots it wrote, in time order."""

from django.dispatch import Signal

risk_scored = Signal()  # kwargs: snapshots (list[RiskSnapshot])
