"""Adapters to AWS: the only package (with `chalicelib.local`) that imports boto3."""
