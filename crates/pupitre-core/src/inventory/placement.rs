//! Rack placement: which units a device occupies, and whom it would collide with.

use super::Face;

/// A device already in the rack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupant {
    pub asset_id: i64,
    pub name: String,
    pub rack_u: i32,
    pub height_u: i32,
    pub face: Face,
    pub full_depth: bool,
}

impl Occupant {
    /// The units `input` asks for at `rack_u`, as asset `asset_id` (front face and one unit
    /// when unsaid).
    pub fn asked(asset_id: i64, input: &super::AssetInput, rack_u: i32) -> Occupant {
        Occupant {
            asset_id,
            name: input.name.clone(),
            rack_u,
            height_u: input.height_u.max(1),
            face: input.rack_face.unwrap_or(Face::Front),
            full_depth: input.full_depth,
        }
    }
}

/// Why a device cannot go where it was asked to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementConflict {
    /// The device would stick out of the rack.
    OutOfRack { top: i32, height_u: i32 },
    /// Another device already holds one of the units on that face.
    Occupied { by: i64, name: String, unit: i32 },
}

impl PlacementConflict {
    pub fn message(&self) -> String {
        match self {
            PlacementConflict::OutOfRack { top, height_u } if *top > *height_u => format!(
                "the device would reach U{top}, above the top of the {height_u} U rack; \
                 not enough space left above this position"
            ),
            PlacementConflict::OutOfRack { height_u, .. } => {
                format!("rack units are numbered 1 to {height_u}")
            }
            PlacementConflict::Occupied { name, unit, by } => {
                format!("U{unit} is already taken by {name} (asset {by})")
            }
        }
    }
}

/// Checks that `candidate` fits in a rack of `rack_height` units beside `others`
/// (which may include the candidate itself, by id: a device does not collide with its
/// previous position). Devices collide when their units overlap on the same face, or
/// when either is full-depth.
pub fn placement_conflict(
    rack_height: i32,
    candidate: &Occupant,
    others: &[Occupant],
) -> Option<PlacementConflict> {
    let top = candidate.rack_u + candidate.height_u - 1;
    if candidate.rack_u < 1 || candidate.height_u < 1 || top > rack_height {
        return Some(PlacementConflict::OutOfRack {
            top,
            height_u: rack_height,
        });
    }
    others
        .iter()
        .filter(|o| o.asset_id != candidate.asset_id)
        .filter(|o| o.full_depth || candidate.full_depth || o.face == candidate.face)
        .find_map(|o| {
            let lo = candidate.rack_u.max(o.rack_u);
            let hi = top.min(o.rack_u + o.height_u - 1);
            (lo <= hi).then(|| PlacementConflict::Occupied {
                by: o.asset_id,
                name: o.name.clone(),
                unit: lo,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: i64, u: i32, h: i32, face: Face, full: bool) -> Occupant {
        Occupant {
            asset_id: id,
            name: format!("dev{id}"),
            rack_u: u,
            height_u: h,
            face,
            full_depth: full,
        }
    }

    #[test]
    fn overlaps_and_bounds() {
        let others = [
            dev(1, 10, 2, Face::Front, true),
            dev(2, 20, 1, Face::Rear, false),
        ];
        // Overlaps U11 of a full-depth server.
        assert!(matches!(
            placement_conflict(42, &dev(9, 11, 1, Face::Rear, false), &others),
            Some(PlacementConflict::Occupied {
                by: 1,
                unit: 11,
                ..
            })
        ));
        // Front of a half-depth rear device is free.
        assert_eq!(
            placement_conflict(42, &dev(9, 20, 1, Face::Front, false), &others),
            None
        );
        // But a full-depth device there collides.
        assert!(placement_conflict(42, &dev(9, 20, 1, Face::Front, true), &others).is_some());
        // Too tall for the space left.
        assert!(matches!(
            placement_conflict(42, &dev(9, 41, 4, Face::Front, true), &others),
            Some(PlacementConflict::OutOfRack { top: 44, .. })
        ));
        assert!(placement_conflict(42, &dev(9, 0, 1, Face::Front, true), &others).is_some());
        // Moving a device within its own units is fine.
        assert_eq!(
            placement_conflict(42, &dev(1, 11, 2, Face::Front, true), &others),
            None
        );
        // Adjacent units do not collide.
        assert_eq!(
            placement_conflict(42, &dev(9, 12, 8, Face::Front, true), &others),
            None
        );
    }
}
