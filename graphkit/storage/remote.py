"""``s3://`` inputs and outputs for the stages: download before, upload after the local atomic write.

Every stage works on local folders. The CLI layer (:mod:`graphkit.cli.remote`) maps an
``s3://bucket/prefix`` argument to a temporary local copy: inputs are downloaded first
(one object, or every object under the prefix), outputs are written locally by the
stage's usual atomic write and then uploaded. S3 has no atomic rename, so an upload
writes every file, the stage's marker file (``graph.json``, ``transformed.json``, ...)
last, then deletes objects left from an earlier output under the same prefix.

Credentials and the endpoint come from boto3's standard sources: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION``, profiles,
instance roles; ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` point it at an
S3-compatible server (MinIO, Ceph, a test server).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from graphkit.errors import GraphkitError

SCHEME = "s3://"


def is_remote(path: object) -> bool:
    return isinstance(path, str) and path.startswith(SCHEME)


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # no leading slash; "" for the bucket's root

    @staticmethod
    def parse(uri: str) -> "S3Uri":
        if not is_remote(uri):
            raise GraphkitError(f"not an s3:// URI: {uri!r}.")
        bucket, _, key = uri[len(SCHEME):].partition("/")
        if not bucket:
            raise GraphkitError(f"no bucket in {uri!r}.", hint="Write s3://BUCKET/PREFIX.")
        return S3Uri(bucket, key.strip("/"))

    @property
    def prefix(self) -> str:
        """The key as a folder prefix: ``a/b/`` (or ``""`` for the bucket root)."""
        return f"{self.key.rstrip('/')}/" if self.key else ""

    def child(self, rel: str) -> "S3Uri":
        return S3Uri(self.bucket, self.prefix + rel.replace(os.sep, "/"))

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"


def client() -> Any:
    """A boto3 S3 client from the standard environment (``AWS_ENDPOINT_URL[_S3]`` for S3-compatible servers)."""
    try:
        import boto3
    except ImportError:
        raise GraphkitError("s3:// paths need boto3.", hint="pip install 'graphkit[s3]'.") from None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint)


def _error(e: Exception, uri: str, action: str) -> GraphkitError:
    return GraphkitError(f"cannot {action}: {e}", file=uri,
                         hint="Check the bucket, the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) "
                              "and, for S3-compatible servers, AWS_ENDPOINT_URL.")


def list_prefix(uri: str, s3: Any = None) -> list[str]:
    """Keys of every object under ``uri`` taken as a folder, relative to it, sorted."""
    u = S3Uri.parse(uri)
    s3 = s3 or client()
    out = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=u.bucket, Prefix=u.prefix):
            out.extend(obj["Key"][len(u.prefix):] for obj in page.get("Contents", []))
    except Exception as e:  # botocore's ClientError/EndpointConnectionError: report them as user errors
        raise _error(e, uri, "list objects") from None
    return sorted(k for k in out if k and not k.endswith("/"))


def is_object(uri: str, s3: Any = None) -> bool:
    """Whether ``uri`` names one object (rather than a folder prefix)."""
    u = S3Uri.parse(uri)
    if not u.key:
        return False
    s3 = s3 or client()
    try:
        s3.head_object(Bucket=u.bucket, Key=u.key)
        return True
    except Exception as e:
        code = str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        raise _error(e, uri, "read object metadata") from None


def download(uri: str, local_dir: str, s3: Any = None) -> str:
    """Copy ``uri`` under ``local_dir``; returns the local path of the object or of the folder.

    One object lands at ``local_dir/<its name>``; a prefix is copied as the folder ``local_dir``.
    A URI naming neither is an error.
    """
    s3 = s3 or client()
    u = S3Uri.parse(uri)
    os.makedirs(local_dir, exist_ok=True)
    if is_object(uri, s3):
        path = os.path.join(local_dir, os.path.basename(u.key))
        _get(s3, u, path)
        return path
    keys = list_prefix(uri, s3)
    if not keys:
        raise GraphkitError("no such object or folder in S3.", file=uri)
    for rel in keys:
        _get(s3, u.child(rel), os.path.join(local_dir, *rel.split("/")))
    return local_dir


def _get(s3: Any, u: S3Uri, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        s3.download_file(u.bucket, u.key, path)
    except Exception as e:
        raise _error(e, str(u), "download") from None


def _local_files(root: str) -> Iterator[str]:
    for d, _, files in os.walk(root):
        for f in files:
            yield os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")


def check_replaceable(uri: str, markers: Sequence[str], s3: Any = None) -> None:
    """Refuse an output prefix that holds objects but none of the stage's marker files (as locally)."""
    keys = list_prefix(uri, s3)
    if keys and markers and not any(k in keys for k in markers):
        raise GraphkitError("the output prefix exists and holds other objects; refusing to overwrite it.", file=uri,
                            hint=f"Choose another output or remove it (graphkit replaces only its own outputs: "
                                 f"{', '.join(markers)}).")


def upload(local: str, uri: str, markers: Sequence[str] = (), s3: Any = None) -> int:
    """Upload a file, or a folder's files (``markers`` last), to ``uri``; returns the number of files.

    Objects under the prefix that the new folder does not have (left by an earlier
    output) are deleted afterwards, so the prefix holds exactly the new output.
    """
    s3 = s3 or client()
    u = S3Uri.parse(uri)
    if os.path.isfile(local):
        _put(s3, local, u)
        return 1
    files = sorted(_local_files(local), key=lambda rel: (rel in markers, rel))
    stale = set(list_prefix(uri, s3)) - set(files)
    for rel in files:
        _put(s3, os.path.join(local, *rel.split("/")), u.child(rel))
    for rel in sorted(stale):
        try:
            s3.delete_object(Bucket=u.bucket, Key=u.child(rel).key)
        except Exception as e:
            raise _error(e, str(u.child(rel)), "delete a stale object") from None
    return len(files)


def _put(s3: Any, path: str, u: S3Uri) -> None:
    try:
        s3.upload_file(path, u.bucket, u.key)
    except Exception as e:
        raise _error(e, str(u), "upload") from None
