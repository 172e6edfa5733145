"""Tests against real services: Kafka (Tansu), RabbitMQ, PostgreSQL, MariaDB."""
