//! The inventory sections both wire formats share, and how they become an [`InventoryReport`].
//!
//! GLPI's JSON inventory is FusionInventory's XML inventory with lower-case keys (and a few
//! renames, such as `MACADDR` → `mac`), so each parser only flattens its syntax into
//! [`Sections`] (upper-case section → records of upper-case field → text) and [`report`] applies
//! one set of rules to both.

use std::collections::{BTreeMap, HashSet};

use pupitre_core::inventory::{
    AssetType, Disk, Interface, InventoryReport, Software, ip_address, mac_address,
};

/// The sections of `CONTENT` that a report is built from; parsers skip the others.
pub(crate) const WANTED: &[&str] = &[
    "BIOS",
    "CPUS",
    "HARDWARE",
    "MEMORIES",
    "NETWORKS",
    "OPERATINGSYSTEM",
    "SOFTWARES",
    "STORAGES",
];

pub(crate) fn wanted(section: &str) -> Option<&'static str> {
    WANTED.iter().copied().find(|w| *w == section)
}

/// One entry of a section: its scalar fields, in document order.
#[derive(Debug, Default)]
pub(crate) struct Record {
    fields: Vec<(String, String)>,
}

impl Record {
    pub(crate) fn push(&mut self, field: &str, value: &str) {
        self.fields
            .push((field.to_owned(), value.trim().to_owned()));
    }

    /// The first non-empty value of `field`, or `""`.
    fn get(&self, field: &str) -> &str {
        self.fields
            .iter()
            .find(|(f, v)| f == field && !v.is_empty())
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first non-empty value among `fields`, in that order of preference.
    fn first_of(&self, fields: &[&str]) -> &str {
        fields
            .iter()
            .map(|f| self.get(f))
            .find(|v| !v.is_empty())
            .unwrap_or("")
    }

    fn number(&self, field: &str) -> Option<i64> {
        self.get(field).parse().ok()
    }
}

/// The wanted sections of one inventory, each a list of records.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    sections: BTreeMap<&'static str, Vec<Record>>,
}

static NO_RECORD: Record = Record { fields: Vec::new() };

impl Sections {
    pub(crate) fn push(&mut self, section: &'static str, record: Record) {
        self.sections.entry(section).or_default().push(record);
    }

    fn all(&self, section: &str) -> &[Record] {
        self.sections.get(section).map_or(&[], Vec::as_slice)
    }

    /// The first record of a single-record section (HARDWARE, BIOS…), or an empty one.
    fn one(&self, section: &str) -> &Record {
        self.all(section).first().unwrap_or(&NO_RECORD)
    }
}

/// Who sent the inventory, from the message around the sections.
pub(crate) struct Envelope {
    pub device_id: String,
    pub source: &'static str,
    pub agent_version: String,
}

/// Builds the report. Values the agent left empty stay empty (or `None`); nothing is invented.
pub(crate) fn report(envelope: Envelope, sections: &Sections) -> InventoryReport {
    let hardware = sections.one("HARDWARE");
    let bios = sections.one("BIOS");
    let os = sections.one("OPERATINGSYSTEM");
    let cpus = sections.all("CPUS");

    let hostname = match hardware.get("NAME") {
        "" => os.get("FQDN").split('.').next().unwrap_or("").to_owned(),
        name => name.to_owned(),
    };
    let cpu_cores =
        total(cpus.iter().filter_map(|c| {
            positive(c.number("CORE")).or_else(|| positive(c.number("CORECOUNT")))
        }));

    InventoryReport {
        device_id: envelope.device_id,
        source: envelope.source.to_owned(),
        agent_version: envelope.agent_version,
        hostname,
        // WORKGROUP is the Windows workgroup or, on Unix, the DNS domain; DNS_DOMAIN is newer.
        domain: match hardware.get("WORKGROUP") {
            "" => os.get("DNS_DOMAIN"),
            workgroup => workgroup,
        }
        .to_owned(),
        uuid: hardware.get("UUID").to_owned(),
        serial: bios.get("SSN").to_owned(),
        manufacturer: bios
            .first_of(&["SMANUFACTURER", "MMANUFACTURER"])
            .to_owned(),
        model: bios.first_of(&["SMODEL", "MMODEL"]).to_owned(),
        asset_type: asset_type(hardware.get("VMSYSTEM"), hardware.get("CHASSIS_TYPE")),
        os_name: os.first_of(&["FULL_NAME", "NAME"]).to_owned(),
        os_version: os.get("VERSION").to_owned(),
        cpu_model: cpus
            .iter()
            .map(|c| c.get("NAME"))
            .find(|n| !n.is_empty())
            .unwrap_or_else(|| hardware.get("PROCESSORT"))
            .to_owned(),
        cpu_sockets: match cpus.len() {
            0 => positive(hardware.number("PROCESSORN")).and_then(|n| i32::try_from(n).ok()),
            n => i32::try_from(n).ok(),
        },
        cpu_cores: cpu_cores.and_then(|n| i32::try_from(n).ok()),
        memory_mb: positive(hardware.number("MEMORY")).or_else(|| {
            total(
                sections
                    .all("MEMORIES")
                    .iter()
                    .filter_map(|m| positive(m.number("CAPACITY"))),
            )
        }),
        interfaces: interfaces(sections.all("NETWORKS")),
        disks: disks(sections.all("STORAGES")),
        software: software(sections.all("SOFTWARES")),
    }
}

fn positive(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n > 0)
}

/// The sum of positive values, `None` when there are none or the sum overflows.
fn total(values: impl Iterator<Item = i64>) -> Option<i64> {
    let mut values = values.peekable();
    values.peek()?;
    values.try_fold(0_i64, i64::checked_add)
}

/// `VMSYSTEM` (FusionInventory's default is `Physical`) wins over the chassis: any other
/// value, containers such as `Docker` and `lxc` included, is a virtual machine.
fn asset_type(vm_system: &str, chassis: &str) -> Option<AssetType> {
    if !vm_system.is_empty() && !vm_system.eq_ignore_ascii_case("physical") {
        return Some(AssetType::VirtualMachine);
    }
    // The SMBIOS chassis names (dmidecode's spelling), as the agents report them.
    match chassis.to_ascii_lowercase().as_str() {
        "laptop" | "notebook" | "portable" | "sub notebook" => Some(AssetType::Laptop),
        "desktop" | "low profile desktop" | "tower" | "mini tower" => Some(AssetType::Workstation),
        _ => None,
    }
}

/// One interface per name and MAC: FusionInventory repeats an interface once per address.
fn interfaces(records: &[Record]) -> Vec<Interface> {
    let mut out: Vec<Interface> = Vec::new();
    for r in records {
        let name = r.get("DESCRIPTION");
        if name == "lo" || r.get("TYPE").eq_ignore_ascii_case("loopback") {
            continue;
        }
        let mac = match mac_address("mac", r.first_of(&["MACADDR", "MAC"])) {
            Ok(mac) if mac != "00:00:00:00:00:00" => mac,
            _ => String::new(),
        };
        if name.is_empty() && mac.is_empty() {
            continue;
        }
        let index = match out.iter().position(|i| i.name == name && i.mac == mac) {
            Some(index) => index,
            None => {
                out.push(Interface {
                    name: name.to_owned(),
                    mac,
                    ..Interface::default()
                });
                out.len() - 1
            }
        };
        let interface = &mut out[index];
        for field in ["IPADDRESS", "IPADDRESS6"] {
            if let Ok(ip) = ip_address("ip", r.get(field))
                && !ip.is_empty()
                && !interface.ips.contains(&ip)
            {
                interface.ips.push(ip);
            }
        }
        if interface.speed_mbps.is_none() {
            // Linux reports -1 (unknown) or 0 (down) as well as real speeds.
            interface.speed_mbps = positive(r.number("SPEED"));
        }
    }
    out
}

fn disks(records: &[Record]) -> Vec<Disk> {
    records
        .iter()
        .map(|r| Disk {
            name: r.get("NAME").to_owned(),
            model: r.get("MODEL").to_owned(),
            serial: r.first_of(&["SERIALNUMBER", "SERIAL"]).to_owned(),
            size_mb: positive(r.number("DISKSIZE")),
        })
        .filter(|d| !(d.name.is_empty() && d.model.is_empty() && d.serial.is_empty()))
        .collect()
}

/// Distinct (name, version, publisher) triples in document order. Packages that differ only in
/// a field the report does not keep (a multiarch `ARCH`, an install date) collapse into one.
fn software(records: &[Record]) -> Vec<Software> {
    let mut seen = HashSet::new();
    records
        .iter()
        .filter(|r| !r.get("NAME").is_empty())
        .map(|r| Software {
            name: r.get("NAME").to_owned(),
            version: r.get("VERSION").to_owned(),
            publisher: r.get("PUBLISHER").to_owned(),
        })
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[(&str, &str)]) -> Record {
        let mut r = Record::default();
        for (f, v) in fields {
            r.push(f, v);
        }
        r
    }

    #[test]
    fn asset_type_rules() {
        let cases = [
            ("", "", None),
            ("Physical", "", None),
            ("Physical", "Notebook", Some(AssetType::Laptop)),
            ("", "Laptop", Some(AssetType::Laptop)),
            ("", "Portable", Some(AssetType::Laptop)),
            ("", "Mini Tower", Some(AssetType::Workstation)),
            ("", "Tower", Some(AssetType::Workstation)),
            ("", "Desktop", Some(AssetType::Workstation)),
            ("", "Rack Mount Chassis", None),
            ("Xen", "Rack Mount Chassis", Some(AssetType::VirtualMachine)),
            ("VMware", "Laptop", Some(AssetType::VirtualMachine)),
            ("Docker", "", Some(AssetType::VirtualMachine)),
        ];
        for (vm, chassis, expected) in cases {
            assert_eq!(asset_type(vm, chassis), expected, "{vm:?} {chassis:?}");
        }
    }

    #[test]
    fn interfaces_merge_per_name_and_mac() {
        let records = [
            record(&[("DESCRIPTION", "lo"), ("IPADDRESS", "127.0.0.1")]),
            record(&[
                ("DESCRIPTION", "eth0"),
                ("MACADDR", "02:FC:00:00:00:01"),
                ("IPADDRESS", "192.0.2.2"),
                ("SPEED", "-1"),
            ]),
            record(&[
                ("DESCRIPTION", "eth0"),
                ("MACADDR", "02:fc:00:00:00:01"),
                ("IPADDRESS6", "FD00::2"),
                ("SPEED", "1000"),
            ]),
            record(&[
                ("DESCRIPTION", "eth0"),
                ("MACADDR", "02:fc:00:00:00:01"),
                ("IPADDRESS", "192.0.2.2"),
                ("IPADDRESS6", "fe80::1%eth0"),
            ]),
            record(&[
                ("DESCRIPTION", "tun0"),
                ("MACADDR", "00:00:00:00:00:00"),
                ("IPADDRESS", "not-an-ip"),
                ("SPEED", "10 Mb/s"),
            ]),
            record(&[
                ("DESCRIPTION", "Intel(R) Ethernet"),
                ("MAC", "00-1A-2B-3C-4D-5E"),
            ]),
        ];
        let found = interfaces(&records);
        assert_eq!(
            found,
            vec![
                Interface {
                    name: "eth0".into(),
                    mac: "02:fc:00:00:00:01".into(),
                    ips: vec!["192.0.2.2".into(), "fd00::2".into()],
                    vlan: None,
                    speed_mbps: Some(1000),
                },
                Interface {
                    name: "tun0".into(),
                    ..Interface::default()
                },
                Interface {
                    name: "Intel(R) Ethernet".into(),
                    mac: "00:1a:2b:3c:4d:5e".into(),
                    ..Interface::default()
                },
            ]
        );
    }

    #[test]
    fn software_is_deduplicated_in_order() {
        let records = [
            record(&[("NAME", "libc6"), ("VERSION", "2.36"), ("ARCH", "amd64")]),
            record(&[("NAME", "zsh"), ("VERSION", "5.9")]),
            record(&[("NAME", "libc6"), ("VERSION", "2.36"), ("ARCH", "i386")]),
            record(&[("NAME", "libc6"), ("VERSION", "2.37")]),
            record(&[("NAME", ""), ("VERSION", "1")]),
        ];
        let names: Vec<_> = software(&records)
            .into_iter()
            .map(|s| format!("{} {}", s.name, s.version))
            .collect();
        assert_eq!(names, ["libc6 2.36", "zsh 5.9", "libc6 2.37"]);
    }

    #[test]
    fn absurd_numbers_do_not_overflow() {
        let mut s = Sections::default();
        for _ in 0..2 {
            s.push("CPUS", record(&[("CORE", "9223372036854775807")]));
            s.push("MEMORIES", record(&[("CAPACITY", "9223372036854775807")]));
        }
        s.push(
            "CPUS",
            record(&[("CORE", "-4"), ("CORECOUNT", "99999999999")]),
        );
        let r = report(
            Envelope {
                device_id: "d".into(),
                source: "fusioninventory",
                agent_version: String::new(),
            },
            &s,
        );
        assert_eq!(
            (r.cpu_sockets, r.cpu_cores, r.memory_mb),
            (Some(3), None, None)
        );
    }

    #[test]
    fn empty_sections_give_an_empty_report() {
        let r = report(
            Envelope {
                device_id: "d".into(),
                source: "fusioninventory",
                agent_version: String::new(),
            },
            &Sections::default(),
        );
        assert_eq!(
            r,
            InventoryReport {
                device_id: "d".into(),
                source: "fusioninventory".into(),
                ..InventoryReport::default()
            }
        );
    }

    #[test]
    fn fallbacks_fill_missing_fields() {
        let mut s = Sections::default();
        s.push(
            "HARDWARE",
            record(&[("PROCESSORT", "AMD EPYC"), ("PROCESSORN", "2")]),
        );
        s.push(
            "OPERATINGSYSTEM",
            record(&[
                ("FQDN", "db1.example.org"),
                ("DNS_DOMAIN", "example.org"),
                ("NAME", "Debian GNU/Linux"),
            ]),
        );
        s.push(
            "BIOS",
            record(&[("MMANUFACTURER", "Supermicro"), ("MMODEL", "X11")]),
        );
        s.push("MEMORIES", record(&[("CAPACITY", "16384")]));
        s.push("MEMORIES", record(&[("CAPACITY", "No")]));
        s.push("MEMORIES", record(&[("CAPACITY", "16384")]));
        s.push(
            "STORAGES",
            record(&[("NAME", "sda"), ("SERIAL", "S1"), ("DISKSIZE", "0")]),
        );
        s.push("STORAGES", record(&[("TYPE", "disk")]));
        let r = report(
            Envelope {
                device_id: "d".into(),
                source: "glpi-agent",
                agent_version: "v".into(),
            },
            &s,
        );
        assert_eq!(r.hostname, "db1");
        assert_eq!(r.domain, "example.org");
        assert_eq!(r.os_name, "Debian GNU/Linux");
        assert_eq!(
            (r.manufacturer.as_str(), r.model.as_str()),
            ("Supermicro", "X11")
        );
        assert_eq!(r.cpu_model, "AMD EPYC");
        assert_eq!(r.cpu_sockets, Some(2));
        assert_eq!(r.cpu_cores, None);
        assert_eq!(r.memory_mb, Some(32768));
        assert_eq!(
            r.disks,
            vec![Disk {
                name: "sda".into(),
                serial: "S1".into(),
                ..Disk::default()
            }]
        );
    }
}
