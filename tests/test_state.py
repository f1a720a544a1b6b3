"""The state stores (SPEC §9): one table of behaviours, run against SQLite and Redis alike."""

import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from app.messages import HookAnswer, info
from app.pipeline import progress
from app.pipeline.dedup import DuplicateGuard, idempotency_key
from app.pipeline.delivery import OutgoingRequest
from app.state import (
    DELIVERED,
    IN_FLIGHT,
    SENT,
    UNKNOWN,
    StateStoreUnavailable,
    VolatileStateError,
    open_store,
)
from app.state.heartbeat import Heartbeat


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/a/b/state.sqlite3"  # directories are created
    return request.getfixturevalue("redis_url")


@pytest.fixture
def store(store_url):
    return open_store(store_url, volatile_ok=False)


@pytest.fixture
def guard(store):
    """Duplicate protection on ``store``, its heartbeat stopped after the test."""
    heartbeat = Heartbeat(store, interval_s=5, lease_s=5, job_alive_s=15)
    yield DuplicateGuard(store, heartbeat, ttl_s=60, wait_s=0.5, lease_s=5)
    heartbeat.stop()


def test_a_claim_is_taken_once_until_released(store):
    assert store.claim("k", "one", lease_s=60).acquired
    second = store.claim("k", "two", lease_s=60)
    assert not second.acquired and second.record.state == IN_FLIGHT
    store.release("k", "two")  # not the owner: nothing happens
    assert not store.claim("k", "two", lease_s=60).acquired
    store.release("k", "one")
    assert store.claim("k", "two", lease_s=60).acquired


def test_a_claim_with_nothing_sent_ends_with_its_lease(store):
    store.claim("k", "dead", lease_s=0.3)
    time.sleep(0.5)

    assert store.get("k") is None
    assert store.claim("k", "next", lease_s=60).acquired


def test_a_sent_claim_past_its_lease_stays_as_an_abandoned_record(store):
    store.claim("k", "dead", lease_s=0.3)
    store.advance("k", "dead", SENT, lease_s=0.3, ttl_s=60, answer={})
    time.sleep(0.5)

    record = store.claim("k", "next", lease_s=60).record
    assert record.state == SENT and record.abandoned


def test_the_heartbeat_keeps_a_claim_and_a_job_alive(store):
    heartbeat = Heartbeat(store, interval_s=0.2, lease_s=0.6, job_alive_s=0.6)
    store.claim("k", "alive", lease_s=0.6)
    store.create_job("j", alive_s=0.6, ttl_s=60)
    heartbeat.keep_job("j")
    with heartbeat.keeping_claim("k", "alive"):
        time.sleep(1.5)
        assert not store.claim("k", "other", lease_s=60).acquired
        assert store.get_job("j").alive_until > time.time()
    heartbeat.drop_job("j")
    time.sleep(1.0)
    heartbeat.stop()

    assert store.claim("k", "other", lease_s=60).acquired
    assert store.get_job("j").alive_until < time.time()


def test_outcomes_keep_the_answer_until_they_expire(store):
    store.claim("k", "one", lease_s=60)
    answer = {"messages": [{"type": "info", "content": "x"}], "operations": []}
    store.advance("k", "other", UNKNOWN, 0, ttl_s=60, answer={})  # not the owner: ignored
    store.advance("k", "one", DELIVERED, 0, ttl_s=0.4, answer=answer)

    assert store.get("k").state == DELIVERED and store.get("k").answer == answer
    time.sleep(0.6)
    assert store.get("k") is None


def test_jobs_are_kept_until_answered_and_then_for_their_ttl(store):
    store.create_job("j", alive_s=60, ttl_s=60)
    assert not store.get_job("j").done
    store.finish_job("j", {"messages": [{"type": "info", "content": "ok"}]}, ttl_s=0.4)

    job = store.get_job("j")
    assert job.done and job.answer["messages"][0]["content"] == "ok"
    assert store.get_job("unknown") is None
    time.sleep(0.6)
    assert store.get_job("j") is None


def request(**changes) -> OutgoingRequest:
    fields = {
        "method": "POST",
        "url": "https://erp.example.com/in",
        "headers": {"Authorization": "Bearer tok-1"},
        "data": b"body",
        "idempotency_key": "key-1",
    }
    return OutgoingRequest(**{**fields, **changes})


@pytest.mark.parametrize(
    ("stage_at_death", "sent_again", "message"),
    [
        (IN_FLIGHT, True, "sent"),
        (SENT, False, "so the target may already hold it"),
        (DELIVERED, False, "Already exported at"),
    ],
)
def test_after_a_dead_owner_the_next_delivery_follows_what_its_claim_recorded(
    store, guard, stage_at_death, sent_again, message
):
    store.claim("key-1", "dead", lease_s=0.3)
    store.advance("key-1", "dead", stage_at_death, lease_s=0.3, ttl_s=60, answer={})
    time.sleep(0.5)  # its lease ends: nobody renews it
    sent = []

    def send(outgoing):
        sent.append(outgoing)
        return HookAnswer([info("sent")])

    answer = guard.run(request(), resend_allowed=False, send=send)

    assert len(sent) == (1 if sent_again else 0)
    assert message in answer.messages[-1].content
    assert (store.get("key-1").state == DELIVERED) is (stage_at_death != SENT)


def test_a_live_claim_of_another_delivery_is_waited_for_then_refused(store, guard):
    store.claim("key-1", "alive", lease_s=60)

    answer = guard.run(request(), resend_allowed=False, send=pytest.fail)

    assert "is being sent by another delivery" in answer.messages[0].content


def wire(written: list):
    """A send as the target session makes it: progress reported, then bytes written."""

    def send(outgoing):
        progress._listener.get().bytes_going_out()  # raises before anything is written
        written.append(outgoing)
        progress._listener.get().status_line(200)
        return HookAnswer([info("sent")])

    return send


def test_nothing_is_claimed_until_the_request_goes_out(store, guard):
    written, seen_before_sending = [], []

    def send(outgoing):
        seen_before_sending.append(store.get("key-1"))  # fetched, rendered, connected
        return wire(written)(outgoing)

    guard.run(request(), resend_allowed=False, send=send)

    assert seen_before_sending == [None]
    assert len(written) == 1 and store.get("key-1").state == DELIVERED


def test_of_two_racing_deliveries_the_loser_stops_before_its_first_byte(store, guard):
    written = []

    def send(outgoing):
        # The other delivery's request goes out first, while this one is connecting.
        assert store.claim("key-1", "other", lease_s=60, state=SENT, ttl_s=60).acquired
        return wire(written)(outgoing)

    answer = guard.run(request(), resend_allowed=False, send=send)

    assert written == []
    assert "is being sent by another delivery" in answer.messages[0].content
    assert store.get("key-1").owner == "other"


def test_the_sqlite_store_is_shared_by_processes(tmp_path):
    url = f"sqlite:///{tmp_path}/state.sqlite3"
    store = open_store(url)
    other_process = textwrap.dedent(f"""
        from app.state import open_store
        store = open_store({url!r})
        claim = store.claim("shared", "child", lease_s=60)
        store.advance("shared", "child", "delivered", 0, 60, {{"messages": []}})
        print(claim.acquired, store.claim("mine", "child", lease_s=60).acquired)
    """)
    assert store.claim("mine", "parent", lease_s=60).acquired

    result = subprocess.run(
        [sys.executable, "-c", other_process],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.split() == ["True", "False"]
    assert store.get("shared").state == DELIVERED


def test_racing_processes_claim_each_key_exactly_once(store_url):
    open_store(store_url)
    racer = textwrap.dedent(f"""
        import sys
        from app.state import open_store
        store = open_store({store_url!r})
        print(len([k for k in range(200) if store.claim(str(k), sys.argv[1], 60).acquired]))
    """)
    processes = [
        subprocess.Popen([sys.executable, "-c", racer, name], stdout=subprocess.PIPE, text=True)
        for name in ("a", "b", "c")
    ]
    wins = [int(p.communicate(timeout=60)[0]) for p in processes]

    assert sum(wins) == 200


def test_a_deleted_sqlite_file_is_noticed_logged_and_recreated(tmp_path, caplog):
    path = tmp_path / "state.sqlite3"
    store = open_store(f"sqlite:///{path}")
    store.claim("k", "one", lease_s=60)
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        (tmp_path / name).unlink(missing_ok=True)

    with caplog.at_level(logging.ERROR):
        assert store.claim("k", "two", lease_s=60).acquired

    assert path.exists()
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "was deleted: every remembered export and job is forgotten" in caplog.text


def test_expired_sqlite_rows_are_deleted_by_the_check(tmp_path):
    import sqlite3

    path = tmp_path / "state.sqlite3"
    store = open_store(f"sqlite:///{path}")
    for key in range(50):
        store.claim(str(key), "one", lease_s=0.1)
    store.claim("live", "one", lease_s=60)
    time.sleep(0.3)

    store.check()

    assert sqlite3.connect(path).execute("SELECT key FROM exports").fetchall() == [("live",)]


def test_an_unusable_sqlite_file_is_unavailable_until_it_is_back(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = open_store(f"sqlite:///{path}")
    store.claim("other", "one", lease_s=60)
    os.rename(path, tmp_path / "saved")
    path.mkdir()  # something that cannot be opened as the state file

    with pytest.raises(StateStoreUnavailable, match=f"SQLite file {path}"):
        store.claim("k", "one", lease_s=60)
    path.rmdir()
    assert store.claim("k", "one", lease_s=60).acquired


def test_redis_down_is_unavailable_until_it_is_back(processes):
    url = processes.redis_server()
    store = open_store(url)
    server = processes.running[-1]
    server.kill()
    server.wait(timeout=10)

    with pytest.raises(StateStoreUnavailable, match="Redis at 127.0.0.1"):
        store.claim("k", "one", lease_s=60)


def test_redis_without_persistence_is_refused_with_aof_accepted(processes):
    with pytest.raises(VolatileStateError, match="keeps no persistence"):
        open_store(processes.redis_server(persistence=False), volatile_ok=False)
    open_store(processes.redis_server(persistence=False), volatile_ok=True)
    open_store(processes.redis_server(persistence=True), volatile_ok=False)


def test_a_flushed_redis_is_noticed(redis_url, caplog):
    import redis

    store = open_store(redis_url)
    store.check()
    redis.Redis.from_url(redis_url).flushall()

    with caplog.at_level(logging.ERROR):
        store.check()
        store.check()

    assert len(caplog.records) == 1
    assert "lost its data (flushed, or restarted without persistence)" in caplog.text


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


SHARED_CONNECTION = """
from gevent import monkey; monkey.patch_all()
import sqlite3, sys, gevent
from app.state import DELIVERED, SENT, open_store

opened = []
connect = sqlite3.connect
sqlite3.connect = lambda *args, **kwargs: opened.append(1) or connect(*args, **kwargs)
store = open_store(sys.argv[1])

def export(n):
    key = f"k{n}"
    assert store.get(key) is None
    assert store.claim(key, "me", 60, SENT, 60).acquired
    gevent.sleep(0.01)  # other greenlets use the store meanwhile
    store.advance(key, "me", DELIVERED, 0, 60, {"messages": [], "operations": []})

gevent.joinall([gevent.spawn(export, n) for n in range(20)], raise_error=True)
print(len(opened), sum(store.get(f"k{n}").state == DELIVERED for n in range(20)))
"""


def test_under_gevent_the_greenlets_of_a_thread_share_one_sqlite_connection(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SHARED_CONNECTION, f"sqlite:///{tmp_path}/state.sqlite3"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "20"]


LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # another process's write in progress
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""

WAIT_FOR_THE_LOCK = """
from gevent import monkey; monkey.patch_all()
import subprocess, sys, time, gevent
from app.state import SENT, open_store

path, holder_code = sys.argv[1], sys.argv[2]
store = open_store(f"sqlite:///{path}")
store.get("nothing")  # the file and its tables exist
holder = subprocess.Popen([sys.executable, "-c", holder_code, path, "2.0"],
                          stdout=subprocess.PIPE, text=True)
assert holder.stdout.readline().strip() == "locked"
ticks = []

def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)

ticker = gevent.spawn(tick)
gevent.sleep(0)
started = time.monotonic()
claimed = store.claim("k", "me", 60, SENT, 60).acquired
waited = time.monotonic() - started
ticker.kill()
holder.wait(timeout=30)
print(claimed, waited > 0.5, sum(started < t < started + waited for t in ticks))
"""


def test_under_gevent_waiting_for_another_process_s_lock_lets_other_greenlets_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WAIT_FOR_THE_LOCK, str(tmp_path / "state.sqlite3"), LOCK_HOLDER],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    claimed, waited, ticks_while_waiting = result.stdout.split()
    assert (claimed, waited) == ("True", "True")
    # SQLite's own busy handler sleeps inside the C call and stops the hub: no tick at all.
    assert int(ticks_while_waiting) >= 10


def test_a_lock_held_past_the_busy_timeout_is_unavailable_until_it_is_released(
    tmp_path, monkeypatch
):
    import sqlite3

    from app.state import sqlite_waits

    monkeypatch.setattr(sqlite_waits, "BUSY_TIMEOUT_S", 0.5)
    path = tmp_path / "state.sqlite3"
    store = open_store(f"sqlite:///{path}")
    store.get("nothing")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    started = time.monotonic()
    with pytest.raises(StateStoreUnavailable, match="database is locked"):
        store.claim("k", "me", 60, SENT, 60)
    assert 0.4 < time.monotonic() - started < 10

    holder.execute("COMMIT")
    assert store.claim("k", "me", 60, SENT, 60).acquired
