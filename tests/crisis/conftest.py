"""Fixtures of the crisis ML tests: pure Python, no database."""

from __future__ import annotations

import pytest

from crisis.tone.emotion import EmotionModel


@pytest.fixture(scope="session")
def emotion_model() -> EmotionModel:
    """The committed emotion artifact; its first use loads the embedder once for the session."""
    return EmotionModel.load()
