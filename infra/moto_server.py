#!/usr/bin/env python3
"""Start moto's server with DynamoDB item operations serialized.

moto's TransactWriteItems deep-copies the tables it touches, applies its writes one by one and,
when a condition fails, puts the copies back -- without any lock. A failing transaction that
races a successful write therefore silently undoes that write (and readers can see a
transaction half applied). Real DynamoDB isolates transactions. Herald's contract tests race
conditional transitions on purpose, so the emulator must be serializable as well: this wrapper
holds one lock around every DynamoDB item operation and then runs moto's server unchanged.

The same rollback copies every table a transaction touches, whole, on every call, so each
transaction costs time and memory in proportion to the table (thousands of racing transactions
drove moto past 24 GB). Since the lock already makes transactions run alone, the wrapper
instead copies only the items a transaction names and puts those back when it fails, which is
the same atomicity at the cost of the transaction's own size.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT   (same arguments as moto_server)
"""

import copy
import functools
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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


class _CopyWithoutTables:
    """moto's `copy` module as seen by its DynamoDB backend: whole tables are not copied (the
    per-item snapshot below replaces that copy); everything else is copied as before."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _key_of(table, op_type, op):
    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _restore(table, hash_key, range_key, item):
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
        if hash_key in table.items and not table.items[hash_key]:
            del table.items[hash_key]
    else:
        table.items[hash_key][range_key] = item


def _item_snapshots(transact_write_items):
    @functools.wraps(transact_write_items)
    def transact(self, transact_items):
        saved = []
        for entry in transact_items:
            try:
                op_type, op = next(iter(entry.items()))
                table = self.tables[op["TableName"]]
                hash_key, range_key = _key_of(table, op_type, op)
                current = table.get_item(hash_key, range_key) if range_key is not None or not table.range_key_attr else None
                saved.append((table, hash_key, range_key, copy.deepcopy(current)))
            except Exception:  # noqa: BLE001 - a malformed entry is moto's to report
                continue
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise

    return transact


dynamodb_models.copy = _CopyWithoutTables()
DynamoDBBackend.transact_write_items = _item_snapshots(DynamoDBBackend.transact_write_items)

for _name in _OPERATIONS:
    _operation = getattr(DynamoDBBackend, _name, None)
    if _operation is None:
        sys.exit(f"moto_server.py: moto has no DynamoDBBackend.{_name}; update the wrapper for this moto version")
    setattr(DynamoDBBackend, _name, _serialized(_operation))

if __name__ == "__main__":
    main(sys.argv[1:])
