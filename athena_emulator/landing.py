"""Bronze for the emulator: a simulated plan fed through the real handlers into its S3."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from athena_emulator.server import AthenaEmulator
from flows.demo_app.delivery import Delivery
from flows.demo_app.feed import feed
from flows.warehouse.lakehouse import environment_set
from ingestion.invocation import utc_now
from ingestion.settings import Settings


def land(
    emulator: AthenaEmulator,
    deliveries: Sequence[Delivery],
    lake_root: str,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Feed `deliveries` to the Lambda handlers, writing to the emulator's S3
    under `lake_root` (s3://bucket/prefix) as they would on AWS."""
    settings = Settings(
        lake_root=lake_root, s3_endpoint_url=emulator.endpoint_url, aws_region=emulator.region
    )
    # The handlers' S3 client (pyarrow's) reads its credentials from the environment.
    with environment_set(emulator.environment()):
        feed(deliveries, settings, clock=clock)
