"""Celery wiring: one app, the delivery and sweep tasks, and the broker settings that keep
delivery safe. Task names are stable strings (``gateway.deliver``), not module paths.

The broker only wakes workers; the outbox decides. So a task carries nothing but the outbox
id (also its task id), acks late, is rejected back to the queue when its worker dies, and may
run twice: :func:`gateway.delivery.deliver.deliver` makes a second run change nothing.

- RabbitMQ: a quorum queue with a delivery limit and a dead-letter exchange, publisher
  confirms; the consumer timeout (30 min by default) is far above the task time limit.
- Redis: the visibility timeout is above every task time limit (no countdowns are used: backoff
  lives in the outbox's ``next_attempt_at``).
- Embedded (``GBAGW_BROKER_URL`` empty): kombu's in-process ``memory://`` transport, polled
  often; losing it on a crash loses nothing, since the sweep publishes again from the database.
"""

from __future__ import annotations

import threading

from celery import Celery
from kombu import Exchange, Queue

from gateway.config import Settings, settings
from gateway.delivery.deliver import deliver
from gateway.delivery.relay import sweep_once
from gateway.delivery.runtime import Runtime
from gateway.privacy import masking

DELIVER = "gateway.deliver"
SWEEP = "gateway.sweep"
POLL = "gateway.poll"
OVERDUE = "gateway.overdue"
PURGE_PERSONAL_DATA = "gateway.purge_personal_data"
#: seconds between retention runs (beat); cases are due after days, an hour late is nothing
PURGE_INTERVAL = 3600.0
#: RabbitMQ gives up on a message redelivered this often (a poison message); the outbox row
#: stays pending and the sweep publishes it again later, so nothing is lost
DELIVERY_LIMIT = 20


def broker_of(config: Settings) -> str:
    return config.broker_url or "memory://localhost/"


def queue_name(config: Settings) -> str:
    return f"{config.queue}.deliveries"


def queues(config: Settings) -> tuple[Queue, Queue | None]:
    """The delivery queue and, on RabbitMQ, its dead-letter queue."""
    name, dead_letters = queue_name(config), f"{config.queue}.dead-letters"
    if not broker_of(config).startswith(("amqp", "pyamqp")):
        return Queue(name, routing_key=name), None
    dlx = Exchange(dead_letters, type="direct", durable=True)
    main = Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": dead_letters,
            "x-dead-letter-routing-key": dead_letters,
        },
    )
    dead = Queue(
        dead_letters,
        dlx,
        routing_key=dead_letters,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )
    return main, dead


def make_app(config: Settings) -> Celery:
    broker = broker_of(config)
    main, _ = queues(config)
    time_limit = max(10.0, config.lease_seconds - 5)  # a live task never outlasts its lease
    transport_options: dict[str, object] = {}
    if broker.startswith(("amqp", "pyamqp")):
        transport_options["confirm_publish"] = True
    elif broker.startswith(("redis", "rediss")):
        transport_options["visibility_timeout"] = int(time_limit * 4 + 60)
    elif broker.startswith("memory"):
        transport_options["polling_interval"] = 0.005
    celery = Celery("gbagw", broker=broker, set_as_current=False)
    celery.conf.update(
        task_queues=[main],
        task_default_queue=main.name,
        task_default_routing_key=main.name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_time_limit=time_limit,
        task_soft_time_limit=time_limit - 5,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_detect_quorum_queues=True,
        # Celery 5.7 declares each worker's remote-control queue ``<hostname>.celery.pidbox``
        # exclusive. Every worker here is ``gbagw@<host>``: a worker restarted right after a
        # kill -9 (RabbitMQ has not yet dropped the dead connection's queue), or a second
        # worker or deployment on the same host, failed to start with RESOURCE_LOCKED.
        control_queue_exclusive=False,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "sweep": {"task": SWEEP, "schedule": config.sweep_interval},
            "poll": {"task": POLL, "schedule": config.poll_interval},
            "overdue": {"task": OVERDUE, "schedule": config.overdue_interval},
            "purge-personal-data": {"task": PURGE_PERSONAL_DATA, "schedule": PURGE_INTERVAL},
        },
    )
    return celery


masking.install()  # a worker started by `celery -A gateway.tasks` masks its logs too
app = make_app(settings())

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, made on first use (after a prefork worker has forked)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime


def use_runtime(value: Runtime | None) -> None:
    """Install the runtime tasks use (the embedded gateway resolves sandbox URLs first)."""
    global _runtime
    with _runtime_lock:
        _runtime = value


@app.task(
    name=DELIVER,
    acks_late=True,
    reject_on_worker_lost=True,
    retry_on_worker_lost=True,
    max_retries=3,
    ignore_result=True,
)
def deliver_task(outbox_id: str) -> str | None:
    return deliver(runtime(), outbox_id)


@app.task(name=SWEEP, ignore_result=True)
def sweep_task() -> int:
    return sweep_once(runtime(), publish)


@app.task(name=POLL, ignore_result=True)
def poll_task() -> int:
    from gateway.reconcile.poll import poll_due

    return poll_due(runtime())


@app.task(name=OVERDUE, ignore_result=True)
def overdue_task() -> int:
    from gateway.supplements.overdue import check_overdue

    return check_overdue(runtime())


@app.task(name=PURGE_PERSONAL_DATA, ignore_result=True)
def purge_personal_data_task() -> int:
    from gateway.privacy.retention import purge_personal_data

    current = runtime()
    return purge_personal_data(
        current.sessions, retention_days=current.settings.personal_data_retention_days
    )


def publish(outbox_id: str) -> None:
    """Wake a worker for one outbox row; the task id is the outbox id."""
    deliver_task.apply_async((outbox_id,), task_id=outbox_id)


def declare_queues() -> None:
    """Declare the queues (and RabbitMQ's dead-letter queue) before the first publish."""
    main, dead = queues(runtime().settings)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in (main, dead):
            if queue is not None:
                queue(channel).declare()
