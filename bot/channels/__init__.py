"""Channels: each turns a platform's messages into `IncomingMessage` and back."""
