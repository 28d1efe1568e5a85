"""The embedded stack for `fn start`: moto server, resources from infra/, event-source poller."""
