"""One contender for the S3 writer lease, run by tests/test_writer_lease.py as a process.

It takes the lease (flows/warehouse/writer_lock.py) again and again and, while
it holds it, "writes": before each write it takes the time, then checks the
lease as the dbt guard does, and logs the write at that time when the check
passed. So a logged write is a moment at which this process was allowed to
write. Lines, appended to one log shared by every contender:

    <name> start <monotonic>            its first write of a tenure
    <name> write <monotonic>
    <name> stop <monotonic of its last write> released|lost: <reason>

`--planted-delete-then-put` swaps the compare-and-swap take-over for the old,
non-atomic one (delete the stale lease, then put a new one), which the test
must catch.

    python -m tests.lease_contender --endpoint URL --bucket B --log FILE --name c1 ...
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time

from flows.warehouse import writer_lock
from flows.warehouse.writer_lock import LeaseLost, catalog_writer
from ingestion.settings import Settings


def delete_then_put(self: writer_lock.S3Lease, etag: str) -> bool:
    """The planted fault: judged stale, deleted whoever is there now, then put."""
    self.s3.delete_object(Bucket=self.bucket, Key=self.key)
    return self._write({"IfNoneMatch": "*"})


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--endpoint", "--bucket", "--log", "--name"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--lease", type=float, required=True)
    parser.add_argument("--poll", type=float, required=True)
    parser.add_argument("--planted-delete-then-put", action="store_true")
    options = parser.parse_args()
    # The log file says what happened; a waiting line per tenure would drown it.
    logging.getLogger("streamlake.writer_lock").setLevel(logging.ERROR)
    if options.planted_delete_then_put:
        writer_lock.S3Lease._take_over = delete_then_put  # type: ignore[method-assign]
    settings = Settings(
        target="aws",
        lake_root=f"s3://{options.bucket}/lake",
        s3_endpoint_url=options.endpoint,
        aws_region="us-east-1",
        writer_lease_seconds=options.lease,
        writer_poll_seconds=options.poll,
        writer_wait_seconds=3600,
        ssm_prefix=None,
        _env_file=None,
    )
    rng = random.Random(f"{options.name}-{os.getpid()}")
    with open(options.log, "a", buffering=1, encoding="utf-8") as log:

        def line(kind: str, at: float, note: str = "") -> None:
            log.write(f"{options.name} {kind} {at:.6f} {note}".rstrip() + "\n")

        while True:
            last: float | None = None
            try:
                with catalog_writer(settings, options.name) as hold:
                    try:
                        for _ in range(rng.randint(10, 60)):
                            at = time.monotonic()
                            hold.check()
                            line("start" if last is None else "write", at)
                            last = at
                            time.sleep(rng.uniform(0.01, 0.06))
                    except LeaseLost as lost:
                        if last is not None:
                            line("stop", last, f"lost: {lost}")
                        raise
                    if last is not None:
                        line("stop", last, "released")
            except LeaseLost:
                pass
            time.sleep(rng.uniform(0.0, 0.3))


if __name__ == "__main__":
    main()
