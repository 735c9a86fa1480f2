"""Delivery as a service: the runtime a worker or relay holds, one delivery, relay and sweep.

The database is the truth and the broker only wakes workers: :func:`deliver` claims an outbox
row, sends the bytes signed at filing, and records what happened; :func:`relay_once` publishes
due rows; :func:`sweep_once` takes back rows whose worker vanished. Celery wiring is in
``gateway.tasks``; none of this imports Celery.
"""
