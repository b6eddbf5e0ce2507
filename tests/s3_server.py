"""An S3-compatible server the photo tests start themselves: moto's standalone server
(``moto_server``, from the ``moto[server]`` wheel) on a free local port.

The issue asked for MinIO; no MinIO server binary installs on this machine (not on PyPI, in
Debian or on npm), so the tests speak S3 to moto instead — the same boto3 client, signatures,
path-style addressing and object ACLs the production settings use against MinIO, Alibaba Cloud
OSS or Huawei Cloud OBS.

Two ways in:
- ``LIANDONG_TEST_S3=1`` (tests/embedded_services.py, before Django's settings are read): one
  server for the whole run and ``PHOTO_STORAGE=s3`` pointing at it, so every photo test runs
  on the bucket (what CI does for the photo tests).
- the ``s3_photos`` fixture: a test that must run on S3 whatever the run uses. When the run is
  already on S3 it uses that bucket; otherwise it starts a server (once per module), makes a
  fresh bucket and switches ``STORAGES["photos"]`` to it for the test.

Importable before Django is set up: nothing here touches Django at import time.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "liandong-test"
SECRET_KEY = "liandong-test-secret"  # noqa: S105 - moto accepts any key; this one is for tests
REGION = "us-east-1"
MISSING = (
    "moto[server] is not installed (pip install 'moto[server]==5.2.5'): no S3 server to test on"
)


def moto_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("moto", "boto3", "storages", "flask"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """A throw-away ``moto_server`` on 127.0.0.1; everything it holds is in memory."""

    def __init__(self, directory: Path | None = None) -> None:
        self._own_dir = directory is None
        self.dir = directory or Path(tempfile.mkdtemp(prefix="ld-s3-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            with open(self.dir / "moto.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.dir,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                        return
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.1)
            self.stop()
        log_tail = (self.dir / "moto.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"moto_server did not start:\n{log_tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def close(self) -> None:
        """Stop the server and remove its directory (if it made it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):
        return s3_client(self.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION)

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"liandong-photos-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def photo_env(self, bucket: str) -> dict[str, str]:
        """The settings (environment) of a run whose photos live in ``bucket`` here."""
        return {
            "PHOTO_STORAGE": "s3",
            "PHOTO_S3_BUCKET": bucket,
            "PHOTO_S3_ENDPOINT_URL": self.endpoint_url,
            "PHOTO_S3_ACCESS_KEY": ACCESS_KEY,
            "PHOTO_S3_SECRET_KEY": SECRET_KEY,
            "PHOTO_S3_REGION": REGION,
            "PHOTO_S3_ADDRESSING_STYLE": "path",
        }


def s3_client(endpoint_url: str | None, access_key: str | None, secret_key: str | None, region):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region or REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@dataclass
class S3Photos:
    """The bucket a test's photos go to, seen from outside the app (boto3, plain HTTP)."""

    client: object
    bucket: str
    endpoint_url: str
    prefix: str = ""

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()

    def anonymous_get(self, key: str) -> int:
        """The status of a plain GET of an object's address, without credentials."""
        url = f"{self.endpoint_url}/{self.bucket}/{urllib.request.quote(key)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    def public_grants(self, key: str) -> list[dict]:
        """Grants of an object to everyone (AllUsers) or to any AWS account (AuthenticatedUsers)."""
        grants = self.client.get_object_acl(Bucket=self.bucket, Key=key)["Grants"]
        return [g for g in grants if g["Grantee"].get("Type") == "Group"]


@pytest.fixture(scope="module")
def s3_server():
    """A moto_server for the module (skipped, saying why, when moto is not installed)."""
    if not moto_installed():
        pytest.skip(MISSING)
    server = S3Server()
    server.start()
    yield server
    server.close()


@pytest.fixture
def s3_photos(request, settings):
    """Photos of this test go to an S3 bucket: the run's own (``PHOTO_STORAGE=s3``) or a fresh
    one on a module's moto_server. Yields an ``S3Photos``."""
    from config import photo_storage

    if settings.PHOTO_STORAGE == "s3":
        options = settings.STORAGES["photos"]["OPTIONS"]
        endpoint = options["endpoint_url"]
        client = s3_client(
            endpoint, options["access_key"], options["secret_key"], options["region_name"]
        )
        yield S3Photos(client, options["bucket_name"], endpoint or "", options["location"])
        return
    server = request.getfixturevalue("s3_server")
    bucket = server.create_bucket()
    settings.STORAGES = {
        **settings.STORAGES,
        "photos": photo_storage.s3_photo_storage(
            bucket=bucket,
            endpoint_url=server.endpoint_url,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
        ),
    }
    yield S3Photos(server.client(), bucket, server.endpoint_url)
