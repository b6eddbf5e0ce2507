"""The ``STORAGES["photos"]`` entry: where photo originals and their served copies live.

``file`` keeps them on the local disk under ``PRIVATE_MEDIA_ROOT`` (the embedded default: one
host). ``s3`` puts them in a bucket of an S3-compatible object store — MinIO, Alibaba Cloud OSS,
Huawei Cloud OBS or AWS S3 — so web and worker processes on several hosts see the same photos.
The tests build their S3 entry with the same function, so they exercise the production options.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# A photo smaller than this is read from the object store into memory; a bigger one (an original
# can be up to MAX_PHOTO_BYTES) spills to a temporary file.
S3_MAX_MEMORY_BYTES = 4 * 1024 * 1024
ACL_CHOICES = ("private", "none")


def file_photo_storage(location: Path | str) -> dict:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(location), "base_url": None},
    }


def s3_photo_storage(
    *,
    bucket: str,
    endpoint_url: str = "",
    access_key: str = "",
    secret_key: str = "",
    region: str = "",
    addressing_style: str = "path",
    acl: str = "private",
    prefix: str = "",
) -> dict:
    """django-storages' S3Storage with the options every S3-compatible store accepts."""
    from botocore.config import Config

    if not bucket:
        raise ImproperlyConfigured("PHOTO_STORAGE=s3 needs PHOTO_S3_BUCKET (the bucket's name).")
    if addressing_style not in ("path", "virtual"):
        raise ImproperlyConfigured(
            f"PHOTO_S3_ADDRESSING_STYLE={addressing_style!r}: use path (MinIO) or virtual "
            "(Alibaba Cloud OSS, Huawei Cloud OBS, AWS S3)."
        )
    if acl not in ACL_CHOICES:
        # Never a public ACL: photos are served only through our views, which check the viewer.
        raise ImproperlyConfigured(
            f"PHOTO_S3_ACL={acl!r}: use private (the default) or none (no ACL sent, for buckets "
            "that refuse ACLs); photos are never public in the bucket."
        )
    client_config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        # boto3 ≥ 1.36 adds CRC checksum headers and trailers to every upload by default; many
        # S3-compatible stores (older MinIO releases among them) refuse them. Only when the
        # operation needs one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            # Empty keys: boto3 looks further (AWS_* environment, an instance role).
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "region_name": region or None,
            "client_config": client_config,
            "default_acl": "private" if acl == "private" else None,
            # Names carry a random part; a clash must never replace another photo.
            "file_overwrite": False,
            # url() is never used for photos (our views stream them); if it were, it would be a
            # signed, expiring link, not a public address.
            "querystring_auth": True,
            "location": prefix.strip("/"),
            "max_memory_size": S3_MAX_MEMORY_BYTES,
        },
    }
