"""File importers: the documented mention schema, and public datasets (airline, twcs)."""
