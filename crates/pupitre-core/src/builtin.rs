//! The built-in profiles every installation starts with. They cannot be edited or deleted;
//! administrators copy one to make their own.

use crate::permission::Domain::*;
use crate::permission::Level::*;
use crate::permission::{Level, Levels};

pub struct BuiltinProfile {
    pub name: &'static str,
    pub description: &'static str,
    pub levels: Levels,
    pub assigned_only: bool,
}

pub const ADMINISTRATOR: &str = "Administrator";

fn levels(pairs: &[(crate::permission::Domain, Level)]) -> Levels {
    pairs
        .iter()
        .fold(Levels::default(), |l, &(d, lv)| l.with(d, lv))
}

pub fn profiles() -> Vec<BuiltinProfile> {
    vec![
        BuiltinProfile {
            name: ADMINISTRATOR,
            description: "Everything, including accounts, profiles and entities.",
            levels: Levels::uniform(Manage),
            assigned_only: false,
        },
        BuiltinProfile {
            name: "Production manager",
            description: "Runs production: manages supervision, jobs, backups, incidents and maintenance; reads administration.",
            levels: levels(&[
                (Administration, Read),
                (Inventory, Edit),
                (Monitoring, Manage),
                (Jobs, Manage),
                (Backups, Manage),
                (Incidents, Manage),
                (Maintenance, Manage),
                (Stock, Edit),
                (Helpdesk, Edit),
                (Reports, Manage),
            ]),
            assigned_only: false,
        },
        BuiltinProfile {
            name: "Operator",
            description: "On shift: watches, acknowledges, reruns and holds; reads the rest.",
            levels: levels(&[
                (Inventory, Read),
                (Monitoring, Operate),
                (Jobs, Operate),
                (Backups, Operate),
                (Incidents, Operate),
                (Maintenance, Read),
                (Stock, Read),
                (Helpdesk, Operate),
                (Reports, Read),
            ]),
            assigned_only: false,
        },
        BuiltinProfile {
            name: "On-call engineer",
            description: "On call: handles incidents end to end and runs corrective actions.",
            levels: levels(&[
                (Inventory, Read),
                (Monitoring, Operate),
                (Jobs, Operate),
                (Backups, Operate),
                (Incidents, Edit),
                (Maintenance, Read),
                (Stock, Read),
                (Helpdesk, Operate),
                (Reports, Read),
            ]),
            assigned_only: false,
        },
        BuiltinProfile {
            name: "Technician",
            description: "Installs and repairs: keeps the inventory, stock, maintenance and tickets.",
            levels: levels(&[
                (Inventory, Edit),
                (Monitoring, Read),
                (Jobs, Read),
                (Backups, Read),
                (Incidents, Read),
                (Maintenance, Edit),
                (Stock, Edit),
                (Helpdesk, Edit),
                (Reports, Read),
            ]),
            assigned_only: false,
        },
        BuiltinProfile {
            name: "Read-only auditor",
            description: "Reads everything, including the audit log; changes nothing.",
            levels: Levels::uniform(Read),
            assigned_only: false,
        },
        BuiltinProfile {
            name: "Vendor",
            description: "An external contractor: sees only the interventions and tickets assigned to them.",
            levels: levels(&[(Maintenance, Operate), (Helpdesk, Operate)]),
            assigned_only: true,
        },
    ]
}
