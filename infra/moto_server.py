#!/usr/bin/env python3
"""Start moto's server with DynamoDB item operations serialized.

moto's TransactWriteItems deep-copies the tables it touches, applies its writes one by one and,
when a condition fails, puts the copies back -- without any lock. A failing transaction that
races a successful write therefore silently undoes that write (and readers can see a
transaction half applied). Real DynamoDB isolates transactions. Herald's contract tests race
conditional transitions on purpose, so the emulator must be serializable as well: this wrapper
holds one lock around every DynamoDB item operation and then runs moto's server unchanged.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT   (same arguments as moto_server)
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()

_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
    "transact_get_items",
    "batch_get_item",
    "batch_write_item",
)


def _serialized(operation):
    @functools.wraps(operation)
    def run_alone(*args, **kwargs):
        with _LOCK:
            return operation(*args, **kwargs)

    return run_alone


for _name in _OPERATIONS:
    _operation = getattr(DynamoDBBackend, _name, None)
    if _operation is None:
        sys.exit(f"moto_server.py: moto has no DynamoDBBackend.{_name}; update the wrapper for this moto version")
    setattr(DynamoDBBackend, _name, _serialized(_operation))

if __name__ == "__main__":
    main(sys.argv[1:])
