"""The SQLite state store: atomic claims, expiry, and sharing across processes."""

import subprocess
import sys
import textwrap
import time

from app.pipeline.dedup import idempotency_key
from app.pipeline.delivery import OutgoingRequest
from app.state import DELIVERED, IN_FLIGHT, open_store


def test_a_claim_is_taken_once_until_released(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/a/b/state.sqlite3")  # directories are created

    assert store.claim("k", "one", lease_s=60, ttl_s=60).acquired
    second = store.claim("k", "two", lease_s=60, ttl_s=60)
    assert not second.acquired and second.record.state == IN_FLIGHT
    store.release("k", "two")  # not the owner: nothing happens
    assert not store.claim("k", "two", lease_s=60, ttl_s=60).acquired
    store.release("k", "one")
    assert store.claim("k", "two", lease_s=60, ttl_s=60).acquired


def test_finished_records_keep_the_answer_until_they_expire(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/state.sqlite3")
    store.claim("k", "one", lease_s=60, ttl_s=60)
    store.finish("k", "one", DELIVERED, {"messages": [{"type": "info", "content": "x"}]}, ttl_s=0.2)

    assert store.get("k").answer == {"messages": [{"type": "info", "content": "x"}]}
    time.sleep(0.3)
    assert store.get("k") is None
    assert store.claim("k", "two", lease_s=60, ttl_s=60).acquired


def test_the_store_is_shared_by_processes(tmp_path):
    url = f"sqlite:///{tmp_path}/state.sqlite3"
    store = open_store(url)
    other_process = textwrap.dedent(f"""
        from app.state import open_store
        store = open_store({url!r})
        claim = store.claim("shared", "child", lease_s=60, ttl_s=60)
        store.finish("shared", "child", "delivered", {{"messages": []}}, ttl_s=60)
        print(claim.acquired, store.claim("mine", "child", lease_s=60, ttl_s=60).acquired)
    """)
    assert store.claim("mine", "parent", lease_s=60, ttl_s=60).acquired

    result = subprocess.run(
        [sys.executable, "-c", other_process],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.split() == ["True", "False"]
    assert store.get("shared").state == DELIVERED
    assert not store.claim("shared", "parent", lease_s=60, ttl_s=60).acquired


def test_racing_processes_claim_each_key_exactly_once(tmp_path):
    url = f"sqlite:///{tmp_path}/state.sqlite3"
    open_store(url)
    racer = textwrap.dedent(f"""
        import sys
        from app.state import open_store
        store = open_store({url!r})
        won = [k for k in range(200) if store.claim(str(k), sys.argv[1], 60, 60).acquired]
        print(len(won))
    """)
    processes = [
        subprocess.Popen([sys.executable, "-c", racer, name], stdout=subprocess.PIPE, text=True)
        for name in ("a", "b", "c")
    ]
    wins = [int(p.communicate(timeout=60)[0]) for p in processes]

    assert sum(wins) == 200


def request(**changes) -> OutgoingRequest:
    fields = {
        "method": "POST",
        "url": "https://erp.example.com/in",
        "headers": {"Authorization": "Bearer tok-1"},
        "data": b"body",
    }
    return OutgoingRequest(**{**fields, **changes})


def test_the_idempotency_key_ignores_the_access_token_only():
    scope = ("https://x.rossum.app/api/v1/hooks/1", 314521, "")
    key = idempotency_key(scope, request(), "tok-1")

    assert (
        idempotency_key(scope, request(headers={"Authorization": "Bearer tok-2"}), "tok-2") == key
    )
    assert idempotency_key(scope, request(data=b"other"), "tok-1") != key
    assert idempotency_key((*scope[:2], "export_configs[1]"), request(), "tok-1") != key
    assert idempotency_key((scope[0], 314522, ""), request(), "tok-1") != key
    assert idempotency_key(scope, request(url="https://erp.example.com/in2"), "tok-1") != key
