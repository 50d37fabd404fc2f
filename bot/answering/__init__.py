"""Choosing what answers a citizen's question: a reviewed answer that contains what was asked,
a passage of the project's own documents quoted word for word, or an honest "no reviewed answer"."""
