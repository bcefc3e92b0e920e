"""A real Ray cluster for the tests (docs: testing, Ray on one machine), and what they ask of it."""
from __future__ import annotations

import os
import time

import pytest


def start_cluster(nodes: int = 2):
    """A cluster of `nodes` one-CPU nodes; the Ray worker processes already running are noted,
    so that stop_cluster can tell its own from those."""
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        if os.environ.get("CI"):
            raise  # CI installs requirements-ray.txt: the Ray tests must run there
        pytest.skip("Ray is not installed: pip install -r requirements-ray.txt")
    before = set(ray_workers())
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    cluster.lrviz_workers_before = before
    return cluster


def stop_cluster(cluster) -> None:
    session = cluster.head_node.get_session_dir_path()
    cluster.shutdown()
    deadline = time.monotonic() + 10
    while (left := processes_of(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"Ray processes left running: {left}"
    while (extra := set(ray_workers()) - cluster.lrviz_workers_before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not extra, f"Ray worker processes left running: {extra}"


def ray_workers(kind: str = "") -> list[str]:
    """Ray's worker processes (their command line is renamed `ray::<actor class>` or
    `ray::IDLE`), of one kind (`Trainer`: lrviz's actors) or all."""
    return [f"{pid}: {cmd}" for pid, cmd in _command_lines() if cmd.startswith(f"ray::{kind}")]


def processes_of(session: str) -> list[str]:
    """Live processes whose command line names the cluster's session folder."""
    return [f"{pid}: {cmd[:120]}" for pid, cmd in _command_lines() if session in cmd]


def _command_lines():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                yield pid, f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue


def first_line(proc, timeout: float = 300.0) -> str:
    """The first line a subprocess prints (text mode), or an AssertionError after `timeout`."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout), f"nothing printed within {timeout} s"
    return proc.stdout.readline()


def node_id(where: str) -> str:
    """The Ray node's short id in a run's `node` ("ray node 1a2b3c4d (ip)/pid N")."""
    assert where.startswith("ray node "), where
    return where.split()[2]


def pid(where: str) -> int:
    return int(where.rsplit("pid ", 1)[1])
