"""How the ray backend's driver joins a cluster, without a cluster: an address where nothing
answers fails in seconds with the address and the fix; a reachable one is joined the way this
machine's Ray node joined it. (tests/run/test_ray_cluster.py joins real clusters.)"""

import socket
import time

import pytest

from scanflow.errors import ScanflowError
from scanflow.run import ray_join
from scanflow.run.ray_join import Join, RayConnectionError, plan_join, split_address


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that accepts connections (and is no Ray)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("form, kind, fix", [
    ("127.0.0.1:{port}", "Ray cluster (GCS)", "ray start --head --port PORT"),
    ("ray://127.0.0.1:{port}", "Ray Client server", "--ray-client-server-port PORT"),
])
def test_an_address_where_nothing_answers_fails_at_once_naming_it_and_the_fix(form, kind, fix):
    address = form.format(port=closed_port())
    started = time.monotonic()
    with pytest.raises(RayConnectionError) as caught:
        plan_join(address)
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert f"cannot reach the {kind} at {address}" in message and fix in message
    assert isinstance(caught.value, ScanflowError) and isinstance(caught.value, ConnectionError)


def test_a_cluster_that_answers_but_has_no_node_on_this_machine_is_refused_with_both_fixes(
        listener, monkeypatch):
    monkeypatch.setattr(ray_join, "local_raylets", lambda: [])
    with pytest.raises(RayConnectionError) as caught:
        plan_join(f"127.0.0.1:{listener}")
    message = str(caught.value)
    assert "no Ray node runs on this machine" in message
    assert f"ray start --address 127.0.0.1:{listener}" in message and "ray://127.0.0.1:10001" in message


def test_the_driver_joins_as_this_machine_s_ray_node_does(listener, monkeypatch):
    """A head bound to loopback: the driver keeps 127.0.0.1 (Ray would rewrite it to the
    machine's outward IP, where nothing listens) and claims the raylet's node IP."""
    monkeypatch.setattr(ray_join, "local_raylets", lambda: [
        ("10.1.2.3:7000", "10.1.2.3"),  # a node of another cluster
        (f"127.0.0.1:{listener}", "127.0.0.1"),
    ])
    assert plan_join(f"localhost:{listener}") == Join(f"127.0.0.1:{listener}", "127.0.0.1", keep_loopback=True, on_this_machine=True)
    assert Join(f"127.0.0.1:{listener}", "127.0.0.1").init_kwargs() == {"_node_ip_address": "127.0.0.1"}


def test_a_head_on_an_outward_ip_is_joined_on_that_ip(listener, monkeypatch):
    monkeypatch.setattr(ray_join, "local_raylets", lambda: [(f"192.0.2.7:{listener}", "192.0.2.7")])
    assert plan_join(f"127.0.0.1:{listener}") == Join(f"192.0.2.7:{listener}", "192.0.2.7", keep_loopback=False, on_this_machine=True)


def test_auto_joins_the_cluster_of_this_machine_s_ray_node_or_says_there_is_none(monkeypatch):
    monkeypatch.setattr(ray_join, "local_raylets", lambda: [("127.0.0.1:6390", "127.0.0.1")] * 2)
    assert plan_join("auto") == Join("127.0.0.1:6390", "127.0.0.1", keep_loopback=True, on_this_machine=True)
    monkeypatch.setattr(ray_join, "local_raylets", lambda: [("10.0.0.5:6379", "10.0.0.6"), ("127.0.0.1:6390", None)])
    assert plan_join("auto") == Join("auto", on_this_machine=True)  # two clusters here: Ray picks (the latest `ray start`)
    monkeypatch.setattr(ray_join, "local_raylets", lambda: [])
    with pytest.raises(RayConnectionError, match=r"no Ray node runs here. Fix: run `ray start --head`"):
        plan_join("auto")


def test_ray_client_needs_only_the_port_to_answer(listener, monkeypatch):
    monkeypatch.setattr(ray_join, "local_raylets", lambda: pytest.fail("Ray Client needs no local node"))
    assert plan_join(f"ray://127.0.0.1:{listener}") == Join(f"ray://127.0.0.1:{listener}")


def test_addresses_are_split_with_ray_s_default_ports():
    assert split_address("head:6380") == ("head", 6380)
    assert split_address("head") == ("head", 6379)
    assert split_address("ray://head") == ("head", 10001)
    assert split_address("ray://[fd00::2]:10002") == ("fd00::2", 10002)
    with pytest.raises(RayConnectionError, match="bad Ray address"):
        split_address("head:port")


def test_the_address_is_the_argument_else_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://env:10001")
    assert ray_join.cluster_address("head:6379") == "head:6379"
    assert ray_join.cluster_address(None) == "ray://env:10001"
    monkeypatch.delenv("RAY_ADDRESS")
    assert ray_join.cluster_address(None) is None


def test_a_failed_ray_init_names_the_address_and_the_token_fix():
    """What Ray raises when the cluster wants a token: the reason sits in a traceback inside
    the message of the error under the one it raises."""
    inner = RuntimeError("Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n"
                         '  File "python/ray/includes/common.pxi", line 119, in check_status\n'
                         "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: Authentication token is missing")
    try:
        try:
            raise inner
        except RuntimeError as exc:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379") from exc
    except ConnectionError as exc:
        error = str(ray_join.failed_join("10.0.0.5:6379", exc))
    assert error.startswith("could not join the Ray cluster at 10.0.0.5:6379 (ConnectionError: Failed to connect")
    assert "Traceback" not in error and "InvalidAuthToken: Authentication token is missing" in error
    assert error.endswith("Fix: the cluster uses token authentication: set RAY_AUTH_MODE=token and give its token "
                          "(RAY_AUTH_TOKEN, or the file ~/.ray/auth_token)")


def test_another_failed_ray_init_points_at_the_versions():
    error = str(ray_join.failed_join("head:6379", ConnectionError("Failed to connect to Ray cluster at head:6379")))
    assert error.endswith("Fix: check that this machine runs the same Ray (and Python) version as the cluster")
