"""DynamoDB access: one table, a string partition key ``pk`` and sort key ``sk``.

Only GetItem, PutItem, UpdateItem, DeleteItem and Query (and, when needed,
BatchWriteItem) are used on a request path (dynalite has no transactions, and
a Scan would read every account). Uniqueness and idempotency come from
conditional writes. The key layout is documented, item by item, in
docs/architecture.md.

botocore errors are translated here, at one boundary: a failed condition
becomes :class:`ConditionFailed`; anything else propagates to the API's
generic 500 handler, which logs it with the request id.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from chalicelib.config import Settings

Item = dict[str, Any]

# Short timeouts and a few retries: a Lambda behind API Gateway has 29 s in
# all, and a DynamoDB call that takes seconds is better retried than waited on.
_BOTO_CONFIG = BotoConfig(
    connect_timeout=3,
    read_timeout=5,
    retries={"max_attempts": 4, "mode": "standard"},
)


class ConditionFailed(Exception):
    """A conditional write found the item not as the condition required."""


_per_thread = threading.local()


def _resource(endpoint: str | None, region: str) -> Any:
    """A DynamoDB resource for this thread, made once (a session costs ~50 ms).

    boto3 resources are not thread-safe, and the local stack serves requests
    on threads; a Lambda runs one request at a time, so there it is simply
    reused across invocations. It holds connections, never request state.
    """
    cache: dict[tuple[str | None, str], Any] = _per_thread.__dict__.setdefault(
        "resources", {}
    )
    if (endpoint, region) not in cache:
        session = boto3.session.Session()
        cache[(endpoint, region)] = session.resource(
            "dynamodb", endpoint_url=endpoint, region_name=region, config=_BOTO_CONFIG
        )
    return cache[(endpoint, region)]


class Table:
    """The certmint table, with the few operations the domain code needs."""

    def __init__(self, settings: Settings) -> None:
        self._table = _resource(settings.dynamodb_endpoint, settings.region).Table(
            settings.table_name
        )

    def get(self, pk: str, sk: str) -> Item | None:
        """Strongly consistent read; None when the item does not exist."""
        response = self._table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def put(
        self, item: Mapping[str, Any], condition: ConditionBase | None = None
    ) -> None:
        """Write ``item``; raise ConditionFailed if ``condition`` does not hold."""
        kwargs: dict[str, Any] = {"Item": dict(item)}
        if condition is not None:
            kwargs["ConditionExpression"] = condition
        self._call(self._table.put_item, **kwargs)

    def put_new(self, item: Mapping[str, Any]) -> None:
        """Write ``item`` only if no item has its key yet (uniqueness)."""
        self.put(item, condition=_absent())

    def update(
        self,
        pk: str,
        sk: str,
        values: Mapping[str, Any],
        condition: ConditionBase | None = None,
        remove: tuple[str, ...] = (),
    ) -> Item:
        """Set ``values`` (and remove ``remove``) on an item; returns the new item."""
        # boto3's condition builder uses #n0/:v0 placeholders; ours must differ.
        names = {f"#set{i}": name for i, name in enumerate(values)}
        expression = "SET " + ", ".join(
            f"#set{i} = :set{i}" for i in range(len(values))
        )
        if remove:
            for j, name in enumerate(remove):
                names[f"#del{j}"] = name
            expression += " REMOVE " + ", ".join(f"#del{j}" for j in range(len(remove)))
        kwargs: dict[str, Any] = {
            "Key": {"pk": pk, "sk": sk},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                f":set{i}": value for i, value in enumerate(values.values())
            },
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            kwargs["ConditionExpression"] = condition
        response = self._call(self._table.update_item, **kwargs)
        item: Item = response["Attributes"]
        return item

    def increment(self, pk: str, sk: str, attribute: str) -> int:
        """Atomically add one to a number attribute (created at 1); the new value.

        DynamoDB applies ADD updates one at a time, so every caller, in any
        Lambda, gets a different value.
        """
        response = self._table.update_item(
            Key={"pk": pk, "sk": sk},
            UpdateExpression="ADD #counter :one",
            ExpressionAttributeNames={"#counter": attribute},
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"][attribute])

    def delete(self, pk: str, sk: str, condition: ConditionBase | None = None) -> None:
        """Delete an item (no error when absent, unless a condition says otherwise)."""
        kwargs: dict[str, Any] = {"Key": {"pk": pk, "sk": sk}}
        if condition is not None:
            kwargs["ConditionExpression"] = condition
        self._call(self._table.delete_item, **kwargs)

    def query_prefix(
        self, pk: str, sk_prefix: str, newest_first: bool = False
    ) -> Iterator[Item]:
        """Every item of partition ``pk`` whose sort key starts with ``sk_prefix``."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(pk)
            & Key("sk").begins_with(sk_prefix),
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        while True:
            response = self._table.query(**kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    @staticmethod
    def _call(operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(str(kwargs.get("Key", ""))) from error
            raise


def _absent() -> ConditionBase:
    return Attr("pk").not_exists()


def ensure_table(settings: Settings) -> None:
    """Create the table if it does not exist (local stack and tests only).

    In AWS the table is created by the deployment, with point-in-time recovery
    and TTL on ``expires_ttl``.
    """
    client = _resource(settings.dynamodb_endpoint, settings.region).meta.client
    try:
        client.describe_table(TableName=settings.table_name)
        return
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    client.create_table(
        TableName=settings.table_name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=settings.table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
