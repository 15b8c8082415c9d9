//! What an inventory agent reports about one machine, whatever its wire format
//! (FusionInventory's OCS XML, GLPI Agent's JSON, Pupitre's own agent).
//!
//! Parsers fill it; [`crate::inventory::merge`] turns it into asset fields.

use super::kinds::AssetType;
use super::{Disk, Interface};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InventoryReport {
    /// The agent's own identifier of the machine (`DEVICEID`, `deviceid`).
    pub device_id: String,
    /// `fusioninventory`, `glpi-agent` or `pupitre-agent`.
    pub source: String,
    /// The agent's version string, e.g. `FusionInventory-Agent_v2.6-3`.
    pub agent_version: String,
    /// Short host name.
    pub hostname: String,
    /// DNS domain or Windows workgroup, empty when unknown.
    pub domain: String,
    /// SMBIOS system UUID.
    pub uuid: String,
    /// System serial number.
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    /// What the report says the machine is (a VM, a laptop…), when it says.
    pub asset_type: Option<AssetType>,
    /// Full OS name, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os_name: String,
    pub os_version: String,
    pub cpu_model: String,
    /// Physical CPU packages.
    pub cpu_sockets: Option<i32>,
    /// Total cores over all packages.
    pub cpu_cores: Option<i32>,
    pub memory_mb: Option<i64>,
    pub interfaces: Vec<Interface>,
    pub disks: Vec<Disk>,
    pub software: Vec<Software>,
}

impl InventoryReport {
    /// The host name with its domain, unless the name already carries one.
    pub fn fqdn(&self) -> String {
        if self.domain.is_empty() || self.hostname.contains('.') {
            self.hostname.clone()
        } else {
            format!("{}.{}", self.hostname, self.domain)
        }
    }
}

/// One installed package or program.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Software {
    pub name: String,
    pub version: String,
    pub publisher: String,
}
