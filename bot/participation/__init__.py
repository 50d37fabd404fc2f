"""The common project: consultations put to the community, the idea box, and the engaged
members (volunteers) who carry the project with its team."""
