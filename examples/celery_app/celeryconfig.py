"""The example worker's configuration: a Redis broker on this machine, results kept in Redis too.

Any broker Celery supports will do (RabbitMQ, Redis, SQS...); the test of this example uses kombu's
filesystem transport instead, so it needs no server.
"""

import os

broker_url = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
result_backend = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1")
# A task is acknowledged once done, so a worker killed mid-call leaves it to another worker.
task_acks_late = True
worker_prefetch_multiplier = 1
