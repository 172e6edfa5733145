"""The orders example: an order saga across two services over Kafka.

::

    Kafka "orders"  --OrderPlaced-->  orders worker (service.py): starts the saga
      1. reserve_stock   remote: ReserveStock -> warehouse, waits for StockReserved
      2. charge_payment  local:  ChargePayment command -> a payment row
      3. ship            remote: ShipOrder -> warehouse, waits for Shipped (timeout)
    warehouse worker (warehouse.py): applies requests and compensations once
      (its inbox), replies through its outbox to "order-replies"
    each service's outbox --relay--> Kafka

A failed step compensates the finished ones in reverse: RefundPayment (local),
ReleaseStock / CancelShipment (remote, to the warehouse).

Every process is the ``cqrs-worker`` command::

    cqrs-worker run consumers.orders.service:build --factory
    cqrs-worker relay consumers.orders.service:relay --factory
    cqrs-worker run consumers.orders.warehouse:build --factory
    cqrs-worker relay consumers.orders.warehouse:relay --factory
    cqrs-worker sagas status consumers.orders.service:sagas --factory
    cqrs-worker sagas diagram consumers.orders.saga:order_saga

Settings: ``ORDERS_DATABASE_URL`` (or ``_FILE``), ``ORDERS_KAFKA`` (the
relays' bootstrap servers), ``ORDERS_PREFIX`` (table name prefix, default
``orders``), ``ORDERS_TOPIC`` / ``ORDERS_REPLIES_TOPIC`` /
``ORDERS_WAREHOUSE_TOPIC`` (defaults ``orders``, ``order-replies``,
``warehouse``), ``ORDERS_REPLY_TIMEOUT`` (seconds the saga waits for each
warehouse reply, default 60). The workers subscribe with
``CQRS_WORKER_TOPICS``: the orders worker to the orders and replies topics,
the warehouse worker to the warehouse topic.
``python -m consumers.orders.schema`` creates the tables.

The business rules stand in for real services: the warehouse holds 100 of
each SKU per order (more is "out of stock"), payments above 1,000 are
declined, an empty address cannot be shipped to, and an address starting
with ``void`` goes to a carrier that never answers (the ship step times out).
"""
