"""Listening: how citizens' messages read (sentiment, topics), community groups the assistant
listens to, and the perception the project team reads from them."""
