"""The server's default result storage with the real client, on every backend: once
/admin/storage names a block, flows persist their results there instead of locally.
"""

from __future__ import annotations

from pathlib import Path

from conftest import Server


def test_server_default_result_storage(server: Server, home: Path, tmp_path: Path):
    base = tmp_path / "results"
    base.mkdir()
    _, saved = server.run_script("result_storage.py", "save", str(base), home=home)
    status, out = server.http("PUT", "/admin/storage", {"default_result_storage_block_id": saved["id"]})
    assert status == 200 and out["default_result_storage_block_id"] == saved["id"], out
    try:
        _, res = server.run_script("result_storage.py", "run", str(base), home=home)
        assert res["result"] == 42, res
        assert len(res["files"]) >= 2, res  # the task's result and the flow's
    finally:
        # The server is shared with the other tests, which keep results locally.
        status, _ = server.http("DELETE", "/admin/storage")
        assert status == 204
    status, out = server.http("GET", "/admin/storage")
    assert out == {"default_result_storage_block_id": None}, out
