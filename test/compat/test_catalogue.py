"""Prefect's block catalogue and collection views, with the real client and CLI, on every backend.

A fresh server holds the block types and schemas prefect's own server registers at start, as the
client computes them, so `prefect block type ls` lists them before any block is saved and a
client's Block.save() registers nothing anew; the worker view lets the CLI create pools of worker
types that are not installed, and a worker of a type no view lists still works.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BACKENDS, PREFECT_CLI, Server, start_server, stop_server


@pytest.fixture(scope="module", params=BACKENDS)
def fresh_server(request, compat_tmp) -> Server:
    """A server of its own, so no other test has saved a block on it."""
    srv = start_server(request.param, compat_tmp)
    yield srv
    stop_server(srv)


def test_block_catalogue_on_a_fresh_server(fresh_server: Server, home: Path):
    out = fresh_server.run([PREFECT_CLI, "block", "type", "ls"], home=home)
    for slug in ("secret", "webhook", "local-file-system", "slack-webhook", "custom-webhook", "aws-credentials"):
        assert slug in out.stdout, out.stdout

    _, res = fresh_server.run_script("block_catalogue.py", "compat-catalogue", home=home)
    assert "secret" in res["registry"] and "slack-webhook" in res["registry"], res
    assert res["missing"] == [], res
    assert res["would_update"] == [], res
    assert res["capabilities_match"] and all(res["capabilities_match"].values()), res
    assert res["protected"] == {"secret": True, "webhook": True, "local-file-system": True}, res
    assert res["collections_missing"] == [], res
    assert res["before"] == res["after"], res
    assert res["loaded"] == "s3cr3t", res

    # Installing the system block types again changes nothing.
    _, types = fresh_server.http("POST", "/block_types/filter", {})
    status, body = fresh_server.http("POST", "/block_types/install_system_block_types")
    assert (status, body) == (200, None), (status, body)
    _, again = fresh_server.http("POST", "/block_types/filter", {})
    assert again == types


def test_collection_views(server: Server):
    status, body = server.http("GET", "/collections/views/aggregate-worker-metadata")
    assert status == 200, body
    assert body["prefect"]["process"]["type"] == "process", body
    assert body["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"], body
    status, body = server.http("GET", "/collections/views/compat-no-such-view")
    assert (status, body) == (404, {"detail": "View compat-no-such-view not found in registry"})


def test_work_pool_of_a_type_not_installed(server: Server, home: Path):
    pool = "compat-k8s-pool"
    server.run([PREFECT_CLI, "work-pool", "create", pool, "--type", "kubernetes"], home=home)
    status, wp = server.http("GET", f"/work_pools/{pool}")
    assert status == 200 and wp["type"] == "kubernetes", wp
    _, view = server.http("GET", "/collections/views/aggregate-worker-metadata")
    want = view["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"]
    assert wp["base_job_template"] == want, wp

    bad = server.run([PREFECT_CLI, "work-pool", "create", "compat-bad-pool", "--type", "compat-nope"],
                     home=home, check=False)
    assert bad.returncode != 0
    assert "Unknown work pool type 'compat-nope'" in bad.stdout + bad.stderr, bad.stdout
    assert "kubernetes" in bad.stdout + bad.stderr, bad.stdout


def test_worker_of_an_unlisted_type(server: Server, home: Path):
    _, res = server.run_script("custom_worker.py", "compat-custom-pool", home=home)
    assert res["type"] == "compat-custom", res
    assert res["template_is_default"], res
    assert res["workers"] == ["compat-custom-worker"], res
