"""Shared fixtures for adapter tests: one moto server (S3, EventBridge, SQS) per test session."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

# moto accepts any credentials; setting them keeps boto3 from reading the machine's real ones.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server_url() -> Iterator[str]:
    """Base URL of a moto server on a free loopback port, shared by every test of the session.

    Despite the name it serves every AWS service moto knows (EventBridge and SQS included). Tests
    isolate themselves by unique bucket, bus and queue names rather than by resetting the server.
    """
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()
