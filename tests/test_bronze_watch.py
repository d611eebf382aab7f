"""The served pipeline's trigger: a transform starts when new Bronze lands, never two at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.bronze_watch import TransformTrigger, poll_seconds, recent_bronze
from flows.demo_app.slices import land_slice
from ingestion.settings import Settings
from ingestion.store import LakeStore


def _trigger(store: LakeStore, busy: list[bool]) -> tuple[TransformTrigger, list[int]]:
    started: list[int] = []
    trigger = TransformTrigger(
        store, start=lambda: started.append(len(started) + 1), busy=lambda: busy[0]
    )
    return trigger, started


def test_new_bronze_starts_one_transform_and_waits_while_one_runs(
    settings: Settings, store: LakeStore
) -> None:
    busy = [False]
    trigger, started = _trigger(store, busy)
    land_slice(settings, store, 0, 200, 20)
    trigger.prime()  # what landed before the watch began is the schedule's
    assert not trigger.poll() and started == []

    land_slice(settings, store, 1, 200, 20)
    assert trigger.poll() and started == [1]
    assert not trigger.poll() and started == [1]  # nothing new since

    busy[0] = True  # a transform runs: Bronze that lands now waits for the next one
    land_slice(settings, store, 2, 200, 20)
    assert not trigger.poll() and trigger.pending
    assert not trigger.poll() and started == [1]
    busy[0] = False
    assert trigger.poll() and started == [1, 2] and not trigger.pending


def test_only_the_last_two_days_partitions_are_listed(settings: Settings, store: LakeStore) -> None:
    today = datetime.now(UTC).date()
    land_slice(settings, store, 0, 100, 10)
    landed = recent_bronze(store, today)
    assert landed and all(f"dt={today.isoformat()}/" in path for path in landed)
    # Three days on, today's files are no longer where new Bronze can be.
    assert recent_bronze(store, today + timedelta(days=3)) == frozenset()


def test_the_poll_is_on_locally_and_off_on_aws_unless_set(tmp_path) -> None:
    assert poll_seconds(Settings(lake_root=str(tmp_path))) == 1
    aws = Settings(target="aws", lake_root="s3://bucket/lake")
    assert poll_seconds(aws) == 0  # each Athena run is billed: the interval alone
    chosen = Settings(target="aws", lake_root="s3://bucket/lake", transform_poll_seconds=30)
    assert poll_seconds(chosen) == 30


def test_the_cost_guard_spaces_the_transforms_new_bronze_starts(
    settings: Settings, store: LakeStore
) -> None:
    """With a minimum interval (the Bronze-triggered mode on aws), new Bronze waits
    until that long after the last start, however often it lands."""
    now = [1000.0]
    started: list[float] = []
    trigger = TransformTrigger(
        store,
        start=lambda: started.append(now[0]),
        busy=lambda: False,
        min_interval=60,
        clock=lambda: now[0],
    )
    trigger.prime()
    land_slice(settings, store, 0, 100, 10)
    assert trigger.poll() and started == [1000.0]
    land_slice(settings, store, 1, 100, 10)
    now[0] += 59
    assert not trigger.poll() and trigger.pending  # too soon: it waits, it is not dropped
    now[0] += 1
    assert trigger.poll() and started == [1000.0, 1060.0] and not trigger.pending


@pytest.fixture
def transform_deployment(prefect_api) -> Iterator[Any]:
    """The transform deployment registered as `streamlake serve` registers it (no
    runner executes its runs); a filter for its runs. Runs and deployment are
    deleted afterwards, so that no other test sees them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from flows.transform import transform

    deployment_id = transform.to_deployment(name="transform").apply()
    ours = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    yield ours
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(deployment_filter=ours):
            client.delete_flow_run(run.id)
        client.delete_deployment(deployment_id)


@pytest.mark.slow
def test_the_served_trigger_keeps_one_run_waiting_behind_the_one_running(
    transform_deployment, settings: Settings, store: LakeStore
) -> None:
    """Through the Prefect API: start() asks for a run of the served transform
    deployment that waits for the writer lock; with two due (one building, the
    next waiting behind it) busy() holds a third back."""
    from prefect.client.orchestration import get_client

    from flows.deployments import transform_trigger

    trigger = transform_trigger(settings)
    assert trigger.store.uri == store.uri
    trigger.prime()
    assert not trigger.busy()
    land_slice(settings, store, 0, 100, 10)
    assert trigger.poll()
    assert not trigger.busy()  # one due: room for the next one behind it
    land_slice(settings, store, 1, 100, 10)
    assert trigger.poll()
    assert trigger.busy()  # both due and not finished
    land_slice(settings, store, 2, 100, 10)
    assert not trigger.poll() and trigger.pending
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=transform_deployment)
    assert [run.parameters for run in runs] == [{"if_busy": "wait"}] * 2


@pytest.mark.slow
def test_serving_watches_bronze_and_asks_for_a_transform_when_it_lands(
    transform_deployment, settings: Settings, store: LakeStore, monkeypatch
) -> None:
    """serve_all runs the watch beside Prefect's serve (here a stand-in that
    blocks until told): a slice landed while serving becomes a transform run."""
    import threading

    from prefect.client.orchestration import get_client

    from flows import deployments

    ours = transform_deployment
    served, stop_serving = threading.Event(), threading.Event()

    def serve_stand_in(*_: object, **__: object) -> None:
        served.set()
        stop_serving.wait(60)

    monkeypatch.setattr(deployments, "serve", serve_stand_in)
    quick = settings.model_copy(update={"transform_poll_seconds": 0.2})
    serving = threading.Thread(target=deployments.serve_all, args=(quick,), daemon=True)
    serving.start()
    try:
        assert served.wait(30)
        time.sleep(1)  # the watch's first look: nothing new yet
        with get_client(sync_client=True) as client:
            assert client.read_flow_runs(deployment_filter=ours) == []
            land_slice(settings, store, 0, 100, 10)
            deadline = time.monotonic() + 30
            while not client.read_flow_runs(deployment_filter=ours):
                assert time.monotonic() < deadline, "no transform run asked for"
                time.sleep(0.2)
            # The slice's files land over more than one look: a second run may follow
            # the first, behind it; further looks see nothing new and ask for no more.
            time.sleep(1)
            asked = client.read_flow_runs(deployment_filter=ours)
            time.sleep(1)
            assert len(client.read_flow_runs(deployment_filter=ours)) == len(asked) <= 2
            assert all(run.parameters == {"if_busy": "wait"} for run in asked)
    finally:
        stop_serving.set()
        serving.join(30)
