"""Discord: the only place that imports discord.py. `chat` serves citizens (the gateway, the
sender), `desk` the staff channel's threads, `listening` community channels."""
