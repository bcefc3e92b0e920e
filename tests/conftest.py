"""Shared test setup: no test writes into the repository's runs/ folder, and TensorFlow's
C++ logging stays quiet."""
import os
import sys
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "LRVIZ_HOME" not in os.environ:
    os.environ["LRVIZ_HOME"] = tempfile.mkdtemp(prefix="lrviz-tests-")


@pytest.fixture(autouse=True)
def fresh_model():
    """Each test's first run builds its own model (lrviz.train keeps the last one for a run that
    differs only by its seed): a test that watches the build sees it."""
    train = sys.modules.get("lrviz.train")
    if train:
        train.forget()


@pytest.fixture
def downloads(monkeypatch):
    """file name -> the bytes a download button would send under AppTest (deferred ones are called)."""
    from streamlit.runtime.download_data_util import convert_data_to_bytes_and_infer_mime as as_bytes
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen = {}
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def record(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if file_name:
            seen[file_name] = lambda: data
        return add(self, data, mimetype, coordinates, file_name, is_for_static_download)

    def record_deferred(self, fn, mimetype, coordinates, file_name=None, **kw):
        seen[file_name] = lambda: as_bytes(fn(), TypeError(f"{file_name}: not bytes, text or a file"))[0]
        return add_deferred(self, fn, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", record)
    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)

    def get(name):
        data = seen[name]()
        return data.encode() if isinstance(data, str) else data

    return get


@pytest.fixture(scope="module")
def page_home(tmp_path_factory):
    """LRVIZ_HOME for a module of page tests: the page keeps one engine per home (its workers
    load TensorFlow once), as a server does."""
    path = tmp_path_factory.mktemp("lrviz-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LRVIZ_HOME", str(path))
        yield path


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray cluster on this machine: a head and a second node of one CPU each, as separate
    processes (Ray's own test utility). Shut down at the end of the session, which checks that
    none of its processes is left."""
    from tests.ray_support import start_cluster, stop_cluster

    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)
