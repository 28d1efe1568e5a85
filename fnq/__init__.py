"""fnq's workstation side: the `fn` CLI, the local stack, deploy-time building and packaging.

It imports `chalicelib` (what runs on Lambda); `chalicelib` never imports it
(tests/test_layout.py holds both to that).
"""
