"""The NLP core of listening: text normalisation, sentence embeddings, language, sentiment and
near-duplicate detection. Pure functions over plain lists and arrays (no ORM): the enrichment tasks
call them in batches, and the tests call them directly."""
