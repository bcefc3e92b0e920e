"""Visitors of a shared instance: tokens only this instance issues, what each visitor may change,
the host's admin token, and uploads that only their uploader trains on."""
import os
from unittest import mock

import pytest

from lrviz import executor, uploads, visitors
from lrviz.experiments import groups
from lrviz.params import ConfigError
from lrviz.schedules import make
from lrviz.store import Store
from lrviz.visitors import NotYours, Visitor

CFG = {"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200}, "training": {"epochs": 1}}
CSV = b"a,b,secret_column\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    return tmp_path


def test_a_token_this_instance_issued_names_its_visitor(home):
    ident, token = visitors.issue(home)
    assert visitors.verify(token, home) == ident


@pytest.mark.parametrize("forged", [None, "", "x", "a.b", "a.b.c", 5])
def test_junk_is_no_visitor(home, forged):
    assert visitors.verify(forged, home) is None


def test_another_visitors_id_with_a_made_up_signature_is_no_visitor(home):
    victim, token = visitors.issue(home)
    assert visitors.verify(f"{victim}.{'0' * 32}", home) is None
    signature = token.split(".")[1]
    assert visitors.verify(f"{victim}.{signature[:-1]}{'1' if signature[-1] == '0' else '0'}", home) is None
    assert visitors.verify(f"{victim}x.{token.split('.')[1]}", home) is None


def test_another_instances_token_is_no_visitor_here(home, tmp_path_factory):
    _, token = visitors.issue(tmp_path_factory.mktemp("elsewhere"))
    assert visitors.verify(token, home) is None


def test_the_secret_outlives_a_restart_and_only_its_owner_reads_it(home):
    ident, token = visitors.issue(home)
    visitors._SECRETS.clear()  # a new server process
    assert visitors.verify(token, home) == ident
    assert os.stat(home / "secret").st_mode & 0o077 == 0


def test_a_visitor_manages_their_own_runs_only(home):
    store = Store(home)
    mine, theirs, hosts = (store.create_run("r", CFG, visitor=v) for v in ("me", "them", None))
    me = Visitor("me")
    assert [me.manages(store.run(r)) for r in (mine, theirs, hosts)] == [True, False, False]
    assert all(Visitor("me", admin=True).manages(store.run(r)) for r in (mine, theirs, hosts))
    assert all(visitors.HOST.manages(store.run(r)) for r in (mine, theirs, hosts))


def test_renaming_another_visitors_run_is_refused_and_changes_nothing(home):
    store = Store(home)
    theirs = store.create_run("theirs", CFG, visitor="them")
    with pytest.raises(NotYours, match="belongs to another visitor"):
        Visitor("me").rename(store, theirs, "mine now")
    assert store.run(theirs)["name"] == "theirs"


class _Engine:  # what Visitor.stop and .delete ask of an engine, recording the calls
    def __init__(self, store):
        self.store, self.calls = store, []

    def stop(self, run_id):
        self.calls.append(("stop", run_id))

    def delete(self, run_id):
        self.calls.append(("delete", run_id))


def test_stopping_or_deleting_another_visitors_run_never_reaches_the_engine(home):
    engine = _Engine(Store(home))
    theirs = engine.store.create_run("theirs", CFG, visitor="them")
    for act in (Visitor("me").stop, Visitor("me").delete):
        with pytest.raises(NotYours):
            act(engine, theirs)
    assert engine.calls == []
    Visitor("them").stop(engine, theirs)
    Visitor("me", admin=True).delete(engine, theirs)
    assert engine.calls == [("stop", theirs), ("delete", theirs)]


def test_another_visitors_experiment_cannot_be_stopped_or_deleted(home):
    engine = _Engine(Store(home))
    group = engine.store.create_group("seeds", None, {}, visitor="them")
    engine.store.create_run("r", CFG, group_id=group, visitor="them")
    for act in (groups.stop, groups.delete):
        with pytest.raises(NotYours, match="experiment"):
            act(engine, group, Visitor("me"))
    assert engine.store.group(group) is not None and engine.calls == []


def test_the_page_names_other_visitors_by_number_never_by_id():
    rows = [{"visitor": v} for v in ("b", "me", None, "a", "b")]
    assert visitors.aliases(rows, Visitor("me")) == {"me": "you", None: "host", "b": "visitor 1", "a": "visitor 2"}


def test_the_admin_token_is_the_hosts_and_none_is_offered_without_one(monkeypatch):
    monkeypatch.delenv(visitors.ADMIN_ENV, raising=False)
    assert not visitors.admin_offered() and not visitors.is_admin_token("")
    monkeypatch.setenv(visitors.ADMIN_ENV, "s3cret")
    assert visitors.admin_offered() and visitors.is_admin_token("s3cret")
    assert not visitors.is_admin_token("s3cre") and not visitors.is_admin_token(None)


def _csv_config(name):
    return {**CFG, "data": {"name": "csv", "path": name, "validation_split": 0.0}}


def test_a_visitor_trains_on_a_csv_they_uploaded(home):
    store = Store(home)
    name = uploads.save("mine.csv", CSV, home)
    store.grant("me", name)
    assert executor.check_config(_csv_config(name), store, Visitor("me"))["data"]["path"] == name


def test_another_visitors_csv_is_refused_without_reading_it(home):
    store = Store(home)
    name = uploads.save("theirs.csv", CSV, home)
    store.grant("them", name)
    with mock.patch("lrviz.data.check") as read, pytest.raises(ConfigError) as refused:
        executor.check_config(_csv_config(name), store, Visitor("me"))
    assert refused.value.field == "data.path" and "you uploaded" in refused.value.allowed
    assert not read.called and "secret_column" not in str(refused.value)


def test_the_host_at_the_command_line_trains_on_any_upload(home):
    name = uploads.save("any.csv", CSV, home)
    assert executor.check_config(_csv_config(name), Store(home), visitors.HOST)["data"]["path"] == name
