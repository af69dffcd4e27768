"""Sources of mentions, one module per kind. Connectors fetch and parse; they never touch the
ORM: each yields `MentionIn` records that `listening.services.ingest` validates and stores."""
