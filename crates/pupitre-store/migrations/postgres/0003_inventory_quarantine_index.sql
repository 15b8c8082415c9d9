-- The quarantine is small and looked up on every inventory list page: index it apart.
CREATE INDEX assets_quarantined ON assets(entity_id, id) WHERE quarantined = TRUE;
