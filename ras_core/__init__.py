"""Pure core of the Recording Analytics platform.

Formats, transforms, the job catalogue and the job state machine. Nothing in this package may import
Dagster, FastAPI, SQLAlchemy, boto3 or httpx: it is plain functions over files, dicts and data frames,
testable without a network.
"""
