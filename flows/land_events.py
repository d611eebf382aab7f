"""Lambda events from files, landed through the real handlers: your application, locally.

A file holds one event as Lambda delivers it to a handler, `{"Records": [...]}`
(what `sam local generate-event` writes, or a batch captured from your own
function), from Kinesis or DynamoDB Streams. The handlers take the names of
your tables and streams, and each stream's contract, from the application file.
"""

from __future__ import annotations

import json
from pathlib import Path

from flows.demo_app.delivery import Delivery
from ingestion.application import application_path, current_application, event_contracts
from ingestion.settings import Settings

KINDS = {"aws:kinesis": "kinesis", "aws:dynamodb": "dynamodb_streams"}


class EventFileError(ValueError):
    """A file that is no Lambda event of Kinesis or DynamoDB Streams; one line, naming it."""


def read_event(path: Path) -> Delivery:
    """The event a file holds, as a delivery to its handler."""
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EventFileError(f"{path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EventFileError(f"{path}: not JSON ({error})") from None
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise EventFileError(f'{path}: not a Lambda event: expected {{"Records": [...]}}')
    sources = {record.get("eventSource") for record in records if isinstance(record, dict)}
    kinds = {KINDS.get(source) for source in sources}
    if len(kinds) != 1 or None in kinds:
        raise EventFileError(
            f"{path}: records of eventSource {sorted(map(str, sources))}; one file holds "
            "the records of one kind: aws:kinesis or aws:dynamodb"
        )
    return Delivery(kinds.pop(), path.stem, {"Records": records})


def handler_settings(settings: Settings) -> Settings:
    """The settings with the application file's table and stream names and contracts added
    (what the CDK app gives the handlers on AWS); the environment's own win."""
    app = current_application(settings.app_config)
    contracts = event_contracts(app, application_path(settings.app_config))
    return settings.model_copy(
        update={
            "source_aliases": {**app.source_aliases, **settings.source_aliases},
            "event_contracts": {**contracts, **settings.event_contracts},
        }
    )
