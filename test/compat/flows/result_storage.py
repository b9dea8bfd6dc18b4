"""The server's default result storage (test_result_storage).

usage: result_storage.py save BASEPATH   saves a LocalFileSystem block there, prints its id
       result_storage.py run BASEPATH    runs a flow that persists results, lists BASEPATH
"""

import os
import sys

from prefect import flow, task
from prefect.filesystems import LocalFileSystem

from _compat import emit


@task(persist_result=True)
def double(x: int) -> int:
    return 2 * x


@flow(persist_result=True)
def stores(x: int) -> int:
    return double(x)


if __name__ == "__main__":
    mode, base = sys.argv[1], sys.argv[2]
    if mode == "save":
        emit({"id": str(LocalFileSystem(basepath=base).save("compat-result-storage", overwrite=True))})
    else:
        emit({"result": stores(21), "files": sorted(os.listdir(base))})
