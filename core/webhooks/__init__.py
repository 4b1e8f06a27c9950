"""Webhooks: signed deliveries of job events to a URL the job names (Standard Webhooks).

- `targets`: which URLs may be called (no private, loopback or link-local targets unless allowed).
- `signing`: the per-tenant secrets (rotatable with an overlap) and the signature headers.
- `deliveries`: delivery records, their schedule in Redis, and the payload of each event.
The sending itself happens in the worker (`worker.webhook_dispatcher`), never in training.
"""
