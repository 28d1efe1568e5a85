"""fnq: Fn-style functions, sync and async, on AWS serverless primitives."""
