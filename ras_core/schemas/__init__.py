"""JSON Schemas of the EMA JSON files (contracts.md), one file per family and schema version."""
