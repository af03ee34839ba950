"""Run folders on S3 (moto's server mode on 127.0.0.1)."""

import boto3
import orjson
import pytest

from llmeter_core import Callback, Result, Runner, StorageError
from tests.fakes import FakeEndpoint

PAYLOADS = [{"prompt": "a b c"}]


def test_run_folder_on_s3_round_trips(s3_server, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMETER_STAGING_DIR", str(tmp_path / "staging"))
    url = f"s3://{s3_bucket}/nightly"
    result = Runner(FakeEndpoint(tokens=2), PAYLOADS, clients=2, n_requests=5, output_path=url, run_name="r").run_sync()
    assert result.output_path == f"{url}/r"
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == [f"nightly/r/{n}" for n in
                    ("payload.jsonl", "responses.jsonl", "run_config.json", "stats.json", "summary.json")]
    loaded = Result.load(result.output_path)
    assert loaded.stats == result.stats and len(loaded.responses) == 10
    # a second run with the same name is refused before it sends anything
    endpoint = FakeEndpoint()
    with pytest.raises(Exception, match="already holds a run"):
        Runner(endpoint, PAYLOADS, n_requests=1, output_path=url, run_name="r").run_sync()
    assert endpoint.calls == 0


class DropBucket(Callback):
    """Makes the store fail between the run and the upload."""

    def __init__(self, endpoint_url, bucket):
        self.endpoint_url, self.bucket = endpoint_url, bucket

    async def after_run(self, result):
        boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1").delete_bucket(Bucket=self.bucket)


def test_failed_upload_keeps_the_local_copy_and_says_where(s3_server, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMETER_STAGING_DIR", str(tmp_path / "staging"))
    runner = Runner(FakeEndpoint(tokens=2), PAYLOADS, n_requests=4, output_path=f"s3://{s3_bucket}/x", run_name="r",
                    callbacks=[DropBucket(s3_server, s3_bucket)])
    runner._folder.backoff_s = 0.01
    with pytest.raises(StorageError) as info:
        runner.run_sync()
    local = info.value.local_path
    assert local and local.startswith(str(tmp_path / "staging")) and local in str(info.value)
    stats = orjson.loads(open(f"{local}/stats.json", "rb").read())
    assert stats["total_requests"] == 4
    assert len(open(f"{local}/responses.jsonl", "rb").read().splitlines()) == 4
