"""The outbox: what the assistant and the team send, queued in the database and delivered in
order per destination by each platform's sender. Below every feature: a feature queues a
message here, never through a channel."""
