"""Tone check of crisis statements: rules (`rules`), a sentence emotion model (`emotion`) and the
report that combines them (`check.tone_check`). Pure Python, no ORM."""
