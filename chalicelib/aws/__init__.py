"""Adapters to AWS: the only modules of chalicelib that import boto3 or botocore."""
