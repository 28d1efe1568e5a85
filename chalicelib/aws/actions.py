"""Every AWS API permission the app's code needs, as IAM action names.

The deployed IAM policy (.chalice/policy.json) must allow exactly these on the stack's own
resources, plus CloudWatch Logs for Lambda itself; tests/infra checks it does. Add an action here
in the same change that makes the code call it.
"""

from __future__ import annotations

ACTIONS: frozenset[str] = frozenset(
    {
        # Apps, routes and calls: single-item reads and conditional writes, index queries, and the
        # batched reads/writes of an app's deletion and of the invoke path's app + route lookup.
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        # The API publishes call ids; the worker's event source receives and deletes them, and the
        # worker sets the visibility of each message it hands back to match why
        # (ChangeMessageVisibilityBatch needs sqs:ChangeMessageVisibility).
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        # Bundles, logs and payloads. HeadObject needs GetObject; DeleteObjects needs DeleteObject;
        # ListBucket makes a missing key answer 404 instead of 403.
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }
)
