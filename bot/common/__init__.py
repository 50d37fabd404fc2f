"""The ground vocabulary every package may use: text handling, the phrases said to citizens,
the types of a turn, languages, concern categories, chat commands. It imports nothing of
the assistant."""
