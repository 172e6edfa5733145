"""The publishing contract, on the in-memory broker, Kafka and RabbitMQ."""
