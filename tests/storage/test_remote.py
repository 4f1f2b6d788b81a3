"""s3:// in and out of the stages, against a real S3-compatible HTTP server on loopback (moto_server)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from graphkit.cli.main import main
from graphkit.errors import GraphkitError
from graphkit.storage.remote import S3Uri, download, list_prefix, upload

pytest.importorskip("boto3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    if not os.path.exists(exe):
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = _free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto_server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def s3(s3_server, monkeypatch):
    import boto3

    for k, v in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    client = boto3.client("s3", endpoint_url=s3_server)
    bucket = f"b{time.time_ns()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def test_uri_parsing():
    assert S3Uri.parse("s3://bucket/a/b/") == S3Uri("bucket", "a/b")
    assert S3Uri.parse("s3://bucket").prefix == "" and S3Uri.parse("s3://bucket/x").child("y/z").key == "x/y/z"
    with pytest.raises(GraphkitError, match="no bucket"):
        S3Uri.parse("s3:///key")


def test_upload_download_and_stale_objects(s3, tmp_path):
    client, bucket = s3
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    client.put_object(Bucket=bucket, Key="out/old.txt", Body=b"stale")
    assert upload(str(src), f"s3://{bucket}/out") == 2
    assert list_prefix(f"s3://{bucket}/out") == ["a.txt", "sub/b.txt"]  # old.txt is gone
    local = download(f"s3://{bucket}/out", str(tmp_path / "copy"))
    assert open(os.path.join(local, "sub", "b.txt")).read() == "b"
    one = download(f"s3://{bucket}/out/a.txt", str(tmp_path / "one"))
    assert one.endswith("a.txt") and open(one).read() == "a"
    with pytest.raises(GraphkitError, match="no such object"):
        download(f"s3://{bucket}/missing", str(tmp_path / "none"))


def test_construct_reads_and_writes_s3(s3, tmp_path):
    from graphkit.datasets.synthetic import ShopSizes, write_shop_dataset
    from graphkit.storage.graph import Graph

    client, bucket = s3
    tables = tmp_path / "tables"
    write_shop_dataset(str(tables), ShopSizes(customers=30, products=20, categories=4, purchases=100))
    assert upload(str(tables), f"s3://{bucket}/shop/tables") == 5
    out = f"s3://{bucket}/shop/graph"
    assert main(["--log-level", "warning", "construct", "--conf-file", f"s3://{bucket}/shop/tables/gconstruct.json",
                 "--output-dir", out, "--graph-name", "shop", "--add-reverse-edges"]) == 0
    keys = list_prefix(out)
    assert "graph.json" in keys and "transforms.json" in keys and "id_maps/customer.parquet" in keys
    g = Graph(download(out, str(tmp_path / "graph")))
    assert (g.meta.graph_name, g.num_nodes("customer"), g.num_nodes("product")) == ("shop", 30, 20)
    import pyarrow.parquet as pq

    assert g.num_edges(("customer", "buys", "product")) == pq.read_metadata(str(tables / "purchases.parquet")).num_rows
    # info and partition read the graph from S3 too; a second construct replaces the output
    assert main(["info", out]) == 0
    assert main(["--log-level", "warning", "partition", "--graph-dir", out, "--num-parts", "2",
                 "--part-method", "random", "--output-dir", f"s3://{bucket}/shop/parts"]) == 0
    assert "partition.json" in list_prefix(f"s3://{bucket}/shop/parts")


def test_failed_stage_uploads_nothing_and_foreign_prefixes_are_refused(s3, tmp_path, capsys):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="mine/notes.txt", Body=b"keep me")
    conf = tmp_path / "bad.json"
    conf.write_text('{"version": "gconstruct-v0.1", "nodes": [], "edges": []}')
    assert main(["construct", "--conf-file", str(conf), "--output-dir", f"s3://{bucket}/mine"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert list_prefix(f"s3://{bucket}/mine") == ["notes.txt"]
    assert main(["construct", "--conf-file", str(conf), "--output-dir", f"s3://{bucket}/fresh"]) == 2
    assert list_prefix(f"s3://{bucket}/fresh") == []
