"""Settings of the workers the fault tests start: the test settings with a short Redis visibility
timeout, so a message whose worker was killed is handed out again within seconds instead of the
production two hours (config.settings), and the unacknowledged set scanned every second."""

from tests.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 8,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
