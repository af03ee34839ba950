"""Fixtures of the emulator tests: a raw timing client, emulators in threads and boto3 clients
(``emulator``, on the test's loop, is in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest


async def _timed_post(url: str, path: str, body: dict, marker: bytes, timeout: float = 10.0):
    """POST ``body`` on a new connection; return (ms from send to each ``marker`` seen, raw bytes).

    A minimal HTTP/1.1 client, so no SDK overhead sits between the bytes and the clock. Reads
    until the server closes (``Connection: close``) or drops the connection.
    """
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    data = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    writer.write(head + data)
    times: list[float] = []
    raw = b""
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
            except ConnectionResetError:
                break
            if not chunk:
                break
            now_ms = (time.perf_counter() - start) * 1000.0
            before = raw.count(marker)
            raw += chunk
            times.extend([now_ms] * (raw.count(marker) - before))
    finally:
        writer.close()
    return times, raw


@pytest.fixture
def timed_post():
    return _timed_post


@pytest.fixture
def emulator_thread():
    """``emulator_thread(kind, **config)`` -> a started EmulatorThread, stopped after the test."""
    from llmeter_core.emulator import EmulatorThread

    started = []

    def start(kind: str, **config):
        emulator = EmulatorThread(kind, config).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def aws_client():
    """``aws_client(service, url)``: a real boto3 client on the emulator, dummy credentials, no
    retries (faults surface); closed after the test (its pooled sockets with it)."""
    import boto3
    from botocore.config import Config

    clients = []

    def make(service: str, url: str):
        clients.append(
            boto3.client(
                service,
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
                config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            )
        )
        return clients[-1]

    yield make
    for client in clients:
        client.close()
