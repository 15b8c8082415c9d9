-- An incident's automatic first-line action runs once, even with several servers paging.
CREATE UNIQUE INDEX incident_actions_automatic_once ON incident_actions (incident_id) WHERE automatic;
