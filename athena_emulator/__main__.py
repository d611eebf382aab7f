"""Serve the Athena emulator by hand: `python -m athena_emulator --help`."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from athena_emulator.server import AthenaEmulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--bucket", default="streamlake-lake", help="created empty")
    parser.add_argument("--workgroup", default="streamlake")
    parser.add_argument("--log", type=Path, default=Path("target/athena_emulator/statements.log"))
    args = parser.parse_args()
    emulator = AthenaEmulator(args.log, port=args.port).start()
    emulator.client("s3").create_bucket(Bucket=args.bucket)
    emulator.client("athena").create_work_group(
        Name=args.workgroup,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{args.bucket}/athena-results/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    exports = {
        **emulator.environment(),
        "STREAMLAKE_TARGET": "aws",
        "STREAMLAKE_LAKE_ROOT": f"s3://{args.bucket}",
        "STREAMLAKE_ATHENA_WORKGROUP": args.workgroup,
    }
    print(f"Athena emulator on {emulator.endpoint_url}; statements go to {args.log}")
    print("In another shell:")
    for key, value in exports.items():
        print(f"  export {key}={value}")
    print("  dbt run-operation create_bronze_tables && dbt seed && dbt run")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
