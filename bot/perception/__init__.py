"""Perception: what citizens' messages say about the project over time, for the project team.

`queries` reads the figures of a period (sentiment, concerns, most asked questions) from the
database, `signals` finds the topics rising above their usual level, `charts` draws them,
`web` is the dashboard on the desk (`/desk/perception`), and `report` the weekly report a
community manager can send as it is (HTML and PDF, in French or English).
"""
