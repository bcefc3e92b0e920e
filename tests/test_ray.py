"""The Ray executor against a real cluster (a head and a second node, separate processes on this
machine): runs train on warm actors on both nodes, their rows stream into the server's store
while they train, Stop lands, a killed worker or node fails only its runs, a server that dies
leaves its runs interrupted with their rows, and an unreachable cluster is a clear error."""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from lrviz import executor, uploads
from lrviz.experiments import groups, sweep
from lrviz.schedules import make
from tests.ray_support import first_line, node_id, pid

pytestmark = pytest.mark.timeout(600)

SHORT = {"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200}, "training": {"epochs": 3}}
LONG = {**SHORT, "training": {"epochs": 10_000}}
ALONE = {**LONG, "optimizer": {"clipnorm": 1.0}}  # never stacked with another run (executor.stack_key)


def wait_for(predicate):
    """Poll until true; pytest-timeout, not this test, decides how long is too long."""
    while not (value := predicate()):
        time.sleep(0.02)
    return value


def status(pool, run_id):
    return pool.store.run(run_id)["status"]


def rows(pool, run_id):
    return len(pool.store.steps(run_id)["step"])


@pytest.fixture(scope="module")
def pool(ray_cluster, tmp_path_factory):
    from lrviz.ray_pool import RayPool

    # Two workers at most: a node added by a test below is left to the drivers it starts.
    engine = RayPool(ray_cluster.address, tmp_path_factory.mktemp("ray-home"), max_workers=2,
                     recycle_growth=float("inf"))  # no worker changes unless a test asks
    assert engine.wait_ready(180)
    yield engine
    engine.shutdown()


def test_one_warm_worker_per_cpu_on_each_node(pool):
    assert len(pool.workers()) == 2
    assert len({node_id(w) for w in pool.workers()}) == 2
    assert pool.where().startswith("the Ray cluster at ")


def test_a_run_trains_on_a_node_and_its_rows_arrive_while_it_trains(pool):
    run_id = pool.submit(LONG, name="remote")
    wait_for(lambda: rows(pool, run_id) >= 20)
    assert status(pool, run_id) == "running"
    seen = rows(pool, run_id)
    wait_for(lambda: rows(pool, run_id) > seen)  # still arriving: streamed, not sent at the end
    assert pool.store.run(run_id)["node"] in pool.workers()
    pool.stop(run_id)
    wait_for(lambda: status(pool, run_id) != "running")
    assert status(pool, run_id) == "stopped" and rows(pool, run_id) > seen


def test_stop_lands_through_the_running_worker_not_by_ending_it(pool, monkeypatch):
    monkeypatch.setattr(pool, "stop_grace_s", 600.0)  # an actor that ignored Stop would not be ended for it
    before = pool.workers()
    run_id = pool.submit(LONG)
    wait_for(lambda: rows(pool, run_id) >= 5)
    pool.stop(run_id)
    wait_for(lambda: status(pool, run_id) != "running")
    assert status(pool, run_id) == "stopped"
    assert pool.workers() == before  # the actor honoured Stop itself: none was killed for it


def test_a_finished_run_has_every_row_the_worker_recorded(pool):
    run_id = pool.submit(SHORT)
    wait_for(lambda: status(pool, run_id) not in ("queued", "running"))
    run = pool.store.run(run_id)
    assert run["status"] == "done" and run["error"] is None
    assert rows(pool, run_id) == run["total_steps"]
    assert len(pool.store.epochs(run_id)["epoch"]) == 3


def test_a_12_run_sweep_spreads_over_both_nodes_and_finishes(pool):
    raw = {"base": SHORT, "grid": {"model.hidden_units": [[8], [16], [32]]}, "seeds": [0, 1, 2, 3]}
    plan = sweep.check(raw)
    group = groups.start(pool, "sweep", raw, plan, "over the cluster")
    wait_for(lambda: all(r["status"] not in ("queued", "running") for r in pool.store.group_runs(group)))
    cols = groups.results(pool.store, group)
    assert cols["status"] == ["done"] * 12
    assert len({node_id(n) for n in cols["node"]}) == 2


def test_a_csv_run_trains_on_a_copy_of_its_file_sent_to_the_node(pool, tmp_path):
    path = tmp_path / "points.csv"
    rng = random.Random()  # new content each time: its copy on the node can only be from this run
    path.write_text("x1,x2,label\n" + "".join(f"{rng.random():.6f},{rng.random():.6f},{i % 2}\n" for i in range(120)))
    cfg = {**SHORT, "data": {"name": "csv", "path": str(path), "target": "label"}}
    run_id = pool.submit(cfg)
    wait_for(lambda: status(pool, run_id) not in ("queued", "running"))
    assert (status(pool, run_id), pool.store.run(run_id)["error"]) == ("done", None)
    assert pool.store.run(run_id)["config"]["data"]["path"] == str(path)  # the record names the user's file
    copy = Path(tempfile.gettempdir(), "lrviz-ray", "uploads", uploads.file_name("points.csv", path.read_bytes()))
    assert copy.read_bytes() == path.read_bytes()  # what the node trained on, named by its content


def test_the_server_writes_only_store_calls_for_the_sending_workers_own_runs(pool):
    from types import SimpleNamespace

    run_id = pool.submit(SHORT)
    wait_for(lambda: status(pool, run_id) == "done")
    stranger = SimpleNamespace(run_ids=[run_id + 1])
    pool._write(stranger, "set_status", (run_id, "failed", "forged"), {})
    pool._write(SimpleNamespace(run_ids=[run_id]), "delete", (run_id,), {})
    assert status(pool, run_id) == "done" and pool.store.run(run_id) is not None


def test_a_deleted_run_leaves_nothing_and_its_worker_goes_on(pool):
    before = pool.workers()
    run_id = pool.submit(LONG)
    wait_for(lambda: rows(pool, run_id) >= 5)
    pool.delete(run_id)
    assert pool.store.run(run_id) is None and run_id not in pool.active()
    after = pool.submit(SHORT)
    wait_for(lambda: status(pool, after) not in ("queued", "running"))
    assert status(pool, after) == "done" and pool.store.run(run_id) is None  # no late row brought it back
    assert pool.workers() == before


def test_a_worker_whose_memory_grew_is_retired_and_another_takes_its_cpu(pool, monkeypatch):
    monkeypatch.setattr(pool, "recycle_growth", -1.0)  # any job after a worker's first counts as growth,
    monkeypatch.setattr(pool, "retire_growth", -1.0)  # enough to retire it when no CPU is free
    before = set(pool.workers())
    done = []
    while set(pool.workers()) == before:  # until a worker that has run a job before runs another
        done.append(pool.submit(SHORT))
        wait_for(lambda: done[-1] not in pool.active())  # its worker's end of job is handled
        assert len(done) <= 3
    monkeypatch.setattr(pool, "recycle_growth", float("inf"))
    wait_for(lambda: len(pool.workers()) == 2)  # no CPU was free: it left, then another started
    assert len(set(pool.workers()) - before) == 1 and [status(pool, r) for r in done] == ["done"] * len(done)
    after = pool.submit(SHORT)
    wait_for(lambda: status(pool, after) not in ("queued", "running"))
    assert status(pool, after) == "done"


def test_a_killed_worker_fails_its_run_only(pool):
    victim, other = pool.submit(ALONE), pool.submit({**ALONE, "training": {"epochs": 10_000, "seed": 1}})
    wait_for(lambda: rows(pool, victim) >= 5 and rows(pool, other) >= 5)
    os.kill(pid(pool.store.run(victim)["node"]), signal.SIGKILL)
    wait_for(lambda: status(pool, victim) != "running")
    run = pool.store.run(victim)
    assert run["status"] == "failed" and "Ray worker" in run["error"] and "died" in run["error"]
    assert rows(pool, victim) >= 5  # what it recorded stays
    seen = rows(pool, other)
    wait_for(lambda: rows(pool, other) > seen + 10)
    assert status(pool, other) == "running"
    pool.stop(other)
    after = pool.submit(SHORT)  # a fresh actor took the dead one's place
    wait_for(lambda: status(pool, after) not in ("queued", "running"))
    assert status(pool, after) == "done" and status(pool, other) == "stopped"
    assert wait_for(lambda: len(pool.workers()) == 2)


DRIVER = textwrap.dedent("""
    import sys, time
    from lrviz.ray_pool import RayPool
    from lrviz.schedules import make
    pool = RayPool(sys.argv[1], sys.argv[2], max_workers=1)
    if sys.argv[3] == "train":
        cfg = {"schedule": make("constant", learning_rate=0.01), "data": {"n_samples": 200},
               "training": {"epochs": 10000}}
        run_id = pool.submit(cfg)
        while len(pool.store.steps(run_id)["step"]) < 20:
            time.sleep(0.05)
        print("training", run_id, flush=True)
        time.sleep(600)
    else:  # the server started again: its pool has recovered the store, and a worker of its own
        print(pool.store.run(int(sys.argv[3]))["status"], len(pool.store.steps(int(sys.argv[3]))["step"]),
              pool.wait_ready(120), flush=True)
        pool.shutdown()
""")


def test_a_server_that_dies_leaves_its_runs_interrupted_with_their_rows(ray_cluster, pool, tmp_path):
    ray_cluster.add_node(num_cpus=1)  # the drivers' own: the shared pool holds the other two CPUs
    ray_cluster.wait_for_nodes()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    server = subprocess.Popen([sys.executable, "-c", DRIVER, ray_cluster.address, str(tmp_path), "train"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        word, run_id = first_line(server).split()
        assert word == "training"
    finally:
        server.kill()
        server.wait()
    again = subprocess.run([sys.executable, "-c", DRIVER, ray_cluster.address, str(tmp_path), run_id],
                           capture_output=True, text=True, env=env, timeout=300)
    state, recorded, ready = again.stdout.split()
    # Interrupted, every row that reached the store kept, and the dead server's worker is gone:
    # the new server's worker got its CPU.
    assert state == "interrupted" and int(recorded) >= 20 and ready == "True", again.stderr[-2000:]


def test_a_node_that_dies_fails_its_runs_and_the_rest_finish(ray_cluster, pool):
    # Last of the pool's tests: the node goes, and a new one takes its place for those after.
    here, there = pool.submit(ALONE), pool.submit({**ALONE, "training": {"epochs": 10_000, "seed": 1}})
    wait_for(lambda: rows(pool, here) >= 5 and rows(pool, there) >= 5)
    head = ray_cluster.head_node.node_id[:8]
    if node_id(pool.store.run(here)["node"]) != head:
        here, there = there, here
    (gone,) = [n for n in ray_cluster.list_all_nodes() if n.node_id[:8] == node_id(pool.store.run(there)["node"])]
    ray_cluster.remove_node(gone)
    wait_for(lambda: status(pool, there) != "running")
    run = pool.store.run(there)
    assert run["status"] == "failed" and "died" in run["error"], run["error"]
    seen = rows(pool, here)
    wait_for(lambda: rows(pool, here) > seen + 10)
    pool.stop(here)
    wait_for(lambda: status(pool, here) != "running")
    assert status(pool, here) == "stopped"
    ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()


def test_a_lost_connection_fails_its_runs_and_the_next_ones_train_here(ray_cluster, pool, tmp_path):
    from lrviz.ray_proxy import RayProxy

    # What the server and the CLI get: the pool in a process of its own, which Ray ends when the
    # cluster's head or that machine's node goes. On a node of its own: the shared pool holds two CPUs.
    node = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    proxy = RayProxy(ray_cluster.address, tmp_path, max_workers=1)
    try:
        assert proxy.wait_ready(180) and proxy.where().startswith("the Ray cluster at ")
        run_id = proxy.submit(LONG)
        wait_for(lambda: rows(proxy, run_id) >= 5)
        os.kill(proxy._process.pid, signal.SIGKILL)
        wait_for(lambda: status(proxy, run_id) != "running")
        run = proxy.store.run(run_id)
        assert run["status"] == "failed" and "connection to the Ray cluster" in run["error"]
        assert rows(proxy, run_id) >= 5  # what it recorded stays
        assert "Runs train on this machine now" in wait_for(lambda: proxy.notice)
        assert proxy.where().startswith("this machine")
        after = proxy.submit(SHORT)
        wait_for(lambda: status(proxy, after) not in ("queued", "running"))
        assert status(proxy, after) == "done" and not proxy.store.run(after)["node"].startswith("ray node")
    finally:
        proxy.shutdown()
        ray_cluster.remove_node(node)


def test_an_unreachable_cluster_is_a_clear_error_naming_the_address():
    with pytest.raises(executor.Unreachable, match=r"127\.0\.0\.1:1 could not be reached: nothing answers there"):
        executor.start(ray="127.0.0.1:1")


def test_a_ray_client_address_is_refused_saying_which_address_works():
    with pytest.raises(executor.Unreachable, match=r"ray://127\.0\.0\.1:10001 is a Ray Client address.*HEAD:6379"):
        executor.start(ray="ray://127.0.0.1:10001")


def test_the_cli_refuses_an_unreachable_cluster_in_one_line(tmp_path):
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"base": SHORT, "grid": {"training.batch_size": [16]}}))
    done = subprocess.run([sys.executable, "-m", "lrviz", "sweep", str(spec), "--ray", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "LRVIZ_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("lrviz: error: --ray: got '127.0.0.1:1';")
    assert "leave it out" in done.stderr


TOKEN_CLUSTER = textwrap.dedent("""
    import sys
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    print(cluster.address, flush=True)
    sys.stdin.read()  # until the test closes it
    cluster.shutdown()
""")


def test_a_cluster_with_token_authentication_needs_its_token_and_trains_with_it(tmp_path):
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"base": SHORT, "grid": {"training.batch_size": [16]}}))
    token = "a1" * 32
    secured = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "HOME": str(tmp_path)}
    head = subprocess.Popen([sys.executable, "-c", TOKEN_CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=secured)
    try:
        address = first_line(head).strip()
        sweep_there = [sys.executable, "-m", "lrviz", "sweep", str(spec), "--ray", address]
        plain = {k: v for k, v in secured.items() if not k.startswith("RAY_AUTH")}
        refused = subprocess.run(sweep_there, capture_output=True, text=True, timeout=300,
                                 env={**plain, "LRVIZ_HOME": str(tmp_path / "a")})
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == [  # one line, without Ray's retries
            f"lrviz: error: --ray: got '{address}'; the Ray cluster at {address} refused this server's token: set "
            "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the cluster's token (README: Training on a Ray cluster); "
            "leave it out (and unset $LRVIZ_RAY_ADDRESS) to train on this machine"]
        trained = subprocess.run(sweep_there, capture_output=True, text=True, timeout=300,
                                 env={**secured, "LRVIZ_HOME": str(tmp_path / "b")})
        assert trained.returncode == 0 and "1 done" in trained.stderr, trained.stderr[-2000:]
    finally:
        head.stdin.close()
        head.wait(timeout=60)


def test_a_sweep_without_the_variable_imports_nothing_of_ray(tmp_path):
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"base": SHORT, "grid": {"training.batch_size": [16, 32]}}))
    env = {k: v for k, v in os.environ.items() if k != executor.RAY_ADDRESS}
    code = (f"import sys; from lrviz import cli; rc = cli.main(['sweep', {str(spec)!r}, '--workers', '1', "
            f"'--out', {str(tmp_path / 'out.csv')!r}]); print(rc, 'ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**env, "LRVIZ_HOME": str(tmp_path)})
    assert done.stdout.split()[-2:] == ["0", "False"], done.stderr[-2000:]


def test_the_page_trains_here_when_the_cluster_cannot_be_reached(tmp_path, monkeypatch):
    from lrviz.page import resources
    from tests.apptest import app, ok, open_tab

    monkeypatch.setenv("LRVIZ_HOME", str(tmp_path))
    monkeypatch.setenv(executor.RAY_ADDRESS, "127.0.0.1:1")
    at = ok(open_tab(app(), "Train"))
    try:
        (warning,) = [w.value for w in at.warning if "could not be reached" in w.value]
        assert "127.0.0.1:1" in warning and "Runs train on this machine instead" in warning
        assert any(c.value.replace("\\", "").startswith("Runs train on this machine (") for c in at.caption)
        assert not at.button(key="train.start").disabled
    finally:
        resources.get_engine(str(tmp_path)).shutdown()


def test_an_outbox_sends_a_sinks_writes_as_messages_without_the_empty_ones():
    import queue

    from lrviz.ray_worker import Outbox
    from lrviz.worker import StoreSink

    out = queue.Queue()
    sink = StoreSink(Outbox(out), 7)
    sink([(0, 0, 0.01, 0.5, 0.1)], [])
    sink.flush()
    sink.set_status("done")
    sent = [out.get_nowait() for _ in range(out.qsize())]
    assert sent == [("store", "append_steps", (7, [(0, 0, 0.01, 0.5, 0.1)]), {}),
                    ("store", "set_status", (7, "done", None), {"metric": None, "node": None})]


@pytest.mark.parametrize("text, said", [
    ("The actor died unexpectedly before finishing this task.\n\tclass_name: Trainer\nThe actor is dead because "
     "its worker process has died. Worker exit type: SYSTEM_ERROR", "its worker process has died"),
    ("The actor died unexpectedly.\nThe actor is dead because its node has died. Node Id: 1a2b", "its node has died"),
    ("The actor died because of an error raised in its creation task\n  File x\n"
     "ModuleNotFoundError: No module named 'tensorflow'", "ModuleNotFoundError: No module named 'tensorflow'"),
])
def test_an_actors_death_is_said_in_one_line(text, said):
    from lrviz.ray_pool import death

    assert death(RuntimeError(text)) == said


def test_an_error_from_the_cluster_is_said_in_one_line_naming_its_cause():
    from lrviz.ray_pool import said_briefly

    mismatch = RuntimeError("Version mismatch: The cluster was started with:\n    Ray: 2.59.0\n"
                            "This process on node 10.0.0.2 was started with:\n    Ray: 2.60.0")
    assert said_briefly(mismatch) == ("Version mismatch: The cluster was started with:; Ray: 2.59.0; This process "
                                      "on node 10.0.0.2 was started with:; Ray: 2.60.0")
    wrapped = RuntimeError("\x1b[36mray::Trainer.run()\x1b[39m (pid=1, ip=10.0.0.2)\n  File ...")
    wrapped.cause = OSError("No space left on device")
    assert said_briefly(wrapped) == "No space left on device"
