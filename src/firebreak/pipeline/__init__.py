"""The mention pipeline: stages over batches, durable state, retries and parking."""
