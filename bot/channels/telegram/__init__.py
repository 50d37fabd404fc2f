"""Telegram: the only place that imports python-telegram-bot. `chat` serves citizens (polling
or webhook, the sender and its pacing), `desk` the staff forum group, `listening` community
groups."""
