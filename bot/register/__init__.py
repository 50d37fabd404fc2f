"""The concern register: the grievance log, its lifecycle, exports, reports and privacy."""
