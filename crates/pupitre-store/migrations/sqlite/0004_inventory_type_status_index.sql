-- Lists filtered on both type and status ("switches out of order") walked the single-column
-- index of one of them in id order until a page was found: milliseconds for a rare pair in a
-- large fleet. With both columns leading, the page is a range of this index.
CREATE INDEX assets_type_status ON assets(asset_type, status, id);
