"""Voisinage: a bilingual citizen-dialogue assistant."""
