"""Alerts: a durable outbox delivered through apprise, de-duplicated, rate-limited and retried.

    schema.py    the playbook's `alerts:` section (targets, red_flag routing, rate limits)
    models.py    the `alerts` table, one row per alert and target
    outbox.py    `enqueue` inside the caller's transaction (AlertDraft)
    delivery.py  `AlertDispatcher.deliver_due`: claim, send through apprise, record, retry
    message.py   several alerts due for one target become one message
    pacing.py    retry backoff and the rate-limit window

Nothing is imported here, so importing the models (for migrations) does not load apprise.
"""
