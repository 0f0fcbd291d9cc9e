"""File import and export: the documented mention schema, and public datasets (airline, twcs).

`formats` reads and validates a whole file (`jsonl`, `mention_csv`, `airline`, `twcs` for each
format, `rows` for what they share), `store` writes it in committed batches through
`mentions.service.ingest_mentions`, and `export` streams mentions back out in the same schema.
"""
