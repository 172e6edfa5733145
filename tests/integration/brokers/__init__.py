"""Publishing to a real Kafka-protocol broker and a real RabbitMQ."""
