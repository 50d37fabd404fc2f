"""Project updates: citizens subscribe in chat (to all news or to topics), the team publishes
news in French and English, and it reaches every subscriber on their own channel."""
