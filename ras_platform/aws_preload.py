"""Preloaded by the run workers' forkserver (`ras_platform.code_server`): boto3, and the AWS service
models the production profile's run workers load, read once for every worker forked after.

Under the production profile every run builds an S3 client (the object store) and may build an
EventBridge one (the publisher). In a fresh process that is ~0.6 CPU-s to import boto3 and ~0.2 to
read S3's service model, endpoint rules and retry config from botocore's JSON files; a client built
where they are cached costs ~0.013 s (measured 2026-11-30). py-spy over the code server under the
production profile (20 recordings): 22% of the run workers' samples. botocore caches each file it
reads on the session's loader, so a client built here leaves them on the default session that the
workers' `boto3.client(...)` uses. It is built with placeholder keys and makes no request: nothing
about credentials or endpoints is resolved here, each worker's own client does that.
"""

from __future__ import annotations

import boto3

# Imported once here, for the workers.
import ras_platform.eventbridge
import ras_platform.s3_object_store  # noqa: F401

# The platform's AWS clients, as `ras_platform.s3_object_store` and `ras_platform.eventbridge` build them.
SERVICES = ("s3", "events")
_PLACEHOLDER = {"aws_access_key_id": "preload", "aws_secret_access_key": "preload"}  # never sent

for _service in SERVICES:
    boto3.client(_service, region_name="eu-west-1", **_PLACEHOLDER)
