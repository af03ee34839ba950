"""Shared test set-up: no telemetry, no traffic beyond loopback; the fixtures every test
folder uses: ``emulator`` (any emulator, on the test's loop), ``aws_env`` (the AWS SDK isolated
from the machine), ``count_connects``, and moto's S3 (``s3_server``, ``s3_bucket``)."""

import asyncio
import os
import uuid

import pytest

from llmeter_core.emulator import start_emulator

from .endpoints.aws_support import SECRET_KEY

# Set before the plugin below (and so Prefect) is imported; nothing above imports Prefect.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

pytest_plugins = ["tests.prefect_fixtures"]


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """The AWS SDK isolated from the machine: dummy credentials (``SECRET_KEY``), a fixed
    region, no config files, no instance metadata lookups, no ``AWS_ENDPOINT_URL*`` left over."""
    for key in list(os.environ):
        if key.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE", "AWS_WEB_IDENTITY")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDUMMY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET_KEY + "-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def emulator(aws_env):
    """``await emulator(kind, **config)`` starts an emulator (``openai``, ``bedrock``,
    ``sagemaker`` or ``all``) on 127.0.0.1 in the test's loop; all stop after the test. AWS
    clients in the test see ``aws_env``."""
    started = []

    async def start(kind: str, **config):
        emu = await start_emulator(kind, config)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 in server mode on 127.0.0.1 (a free port), reached the standard way:
    AWS_ENDPOINT_URL_S3 and dummy credentials. Yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in _S3_ENV}
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_S3": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }
    )
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield url
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3fs.S3FileSystem.clear_instance_cache()


_S3_ENV = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)


@pytest.fixture
def s3_bucket(s3_server):
    """A new, empty bucket for one test; yields its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    client.close()
    yield name


@pytest.fixture
async def count_connects(monkeypatch):
    """Count the TCP connections the client opens (``loop.create_connection`` calls)."""
    loop = asyncio.get_running_loop()
    original = loop.create_connection
    calls = []

    async def counting(*args, **kwargs):
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", counting)
    return calls
