"""The human desk: handoffs to the project team and the desks they work from."""
