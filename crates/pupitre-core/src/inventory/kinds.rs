//! The closed lists of the inventory: asset types, lifecycle statuses, OS families,
//! rack faces and relation kinds, each with a stable key used in storage, the API and CSV.

/// Declares a closed list with stable keys: `ALL`, `key()`, `from_key()` and a
/// `keys()` list for error messages.
macro_rules! keyed_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $key:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn key(self) -> &'static str {
                match self {
                    $($name::$variant => $key,)+
                }
            }

            pub fn from_key(key: &str) -> Option<$name> {
                match key {
                    $($key => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every key, comma-separated: the tail of an "must be one of" message.
            pub fn keys() -> String {
                [$($key,)+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.key())
            }
        }
    };
}

keyed_enum! {
    /// What an asset is. One table holds them all; the type decides the type-specific
    /// attributes, the default height in a rack, and the group it is listed under.
    AssetType {
        Server => "server",
        VirtualMachine => "virtual_machine",
        Hypervisor => "hypervisor",
        Cluster => "cluster",
        Switch => "switch",
        Router => "router",
        Firewall => "firewall",
        LoadBalancer => "load_balancer",
        WifiAccessPoint => "wifi_access_point",
        Pbx => "pbx",
        OperatorLink => "operator_link",
        Modem => "modem",
        StorageArray => "storage_array",
        Nas => "nas",
        SanSwitch => "san_switch",
        TapeLibrary => "tape_library",
        Workstation => "workstation",
        Laptop => "laptop",
        Printer => "printer",
        Phone => "phone",
        Mobile => "mobile",
        Ups => "ups",
        Pdu => "pdu",
        PatchPanel => "patch_panel",
        Application => "application",
        Service => "service",
        Database => "database",
        Licence => "licence",
        Other => "other",
    }
}

/// The families asset types are listed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeGroup {
    Compute,
    Network,
    Telecom,
    Storage,
    EndUser,
    Power,
    Logical,
}

impl TypeGroup {
    pub fn key(self) -> &'static str {
        match self {
            TypeGroup::Compute => "compute",
            TypeGroup::Network => "network",
            TypeGroup::Telecom => "telecom",
            TypeGroup::Storage => "storage",
            TypeGroup::EndUser => "end_user",
            TypeGroup::Power => "power",
            TypeGroup::Logical => "logical",
        }
    }
}

/// The kind of value a type-specific attribute holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    Text,
    /// A non-negative integer.
    Count,
    /// `YYYY-MM-DD`.
    Date,
    Choice(&'static [&'static str]),
}

/// A type-specific attribute: stored with the custom attributes, but validated by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrDef {
    pub key: &'static str,
    pub kind: AttrKind,
}

const CRITICALITY: AttrKind = AttrKind::Choice(&["low", "medium", "high", "critical"]);

impl AssetType {
    pub fn group(self) -> TypeGroup {
        use AssetType::*;
        match self {
            Server | VirtualMachine | Hypervisor | Cluster => TypeGroup::Compute,
            Switch | Router | Firewall | LoadBalancer | WifiAccessPoint | PatchPanel => {
                TypeGroup::Network
            }
            Pbx | OperatorLink | Modem => TypeGroup::Telecom,
            StorageArray | Nas | SanSwitch | TapeLibrary => TypeGroup::Storage,
            Workstation | Laptop | Printer | Phone | Mobile => TypeGroup::EndUser,
            Ups | Pdu => TypeGroup::Power,
            Application | Service | Database | Licence | Other => TypeGroup::Logical,
        }
    }

    /// Logical configuration items have no physical place.
    pub fn is_physical(self) -> bool {
        !matches!(
            self,
            AssetType::VirtualMachine
                | AssetType::Cluster
                | AssetType::Application
                | AssetType::Service
                | AssetType::Database
                | AssetType::Licence
                | AssetType::OperatorLink
        )
    }

    /// Height in rack units when the asset does not say.
    pub fn default_height_u(self) -> i32 {
        match self {
            AssetType::StorageArray | AssetType::TapeLibrary => 4,
            AssetType::Server | AssetType::Hypervisor | AssetType::Ups => 2,
            _ => 1,
        }
    }

    pub fn attributes(self) -> &'static [AttrDef] {
        use AssetType::*;
        use AttrKind::*;
        match self {
            Server | Hypervisor | Workstation | Laptop => &[AttrDef {
                key: "firmware",
                kind: Text,
            }],
            Cluster => &[AttrDef {
                key: "platform",
                kind: Text,
            }],
            VirtualMachine => &[AttrDef {
                key: "platform",
                kind: Text,
            }],
            Switch | Router | Firewall | LoadBalancer | WifiAccessPoint | SanSwitch => &[
                AttrDef {
                    key: "port_count",
                    kind: Count,
                },
                AttrDef {
                    key: "firmware",
                    kind: Text,
                },
            ],
            PatchPanel => &[AttrDef {
                key: "port_count",
                kind: Count,
            }],
            Pbx => &[
                AttrDef {
                    key: "extensions",
                    kind: Count,
                },
                AttrDef {
                    key: "firmware",
                    kind: Text,
                },
            ],
            OperatorLink | Modem => &[
                AttrDef {
                    key: "operator",
                    kind: Text,
                },
                AttrDef {
                    key: "circuit_id",
                    kind: Text,
                },
                AttrDef {
                    key: "bandwidth_mbps",
                    kind: Count,
                },
            ],
            StorageArray | Nas => &[
                AttrDef {
                    key: "raw_capacity_gb",
                    kind: Count,
                },
                AttrDef {
                    key: "usable_capacity_gb",
                    kind: Count,
                },
                AttrDef {
                    key: "firmware",
                    kind: Text,
                },
            ],
            TapeLibrary => &[
                AttrDef {
                    key: "slots",
                    kind: Count,
                },
                AttrDef {
                    key: "drives",
                    kind: Count,
                },
            ],
            Printer => &[AttrDef {
                key: "page_count",
                kind: Count,
            }],
            Phone | Mobile => &[
                AttrDef {
                    key: "phone_number",
                    kind: Text,
                },
                AttrDef {
                    key: "imei",
                    kind: Text,
                },
            ],
            Ups => &[
                AttrDef {
                    key: "capacity_va",
                    kind: Count,
                },
                AttrDef {
                    key: "runtime_min",
                    kind: Count,
                },
            ],
            Pdu => &[
                AttrDef {
                    key: "outlets",
                    kind: Count,
                },
                AttrDef {
                    key: "capacity_w",
                    kind: Count,
                },
            ],
            Application | Service => &[
                AttrDef {
                    key: "url",
                    kind: Text,
                },
                AttrDef {
                    key: "criticality",
                    kind: CRITICALITY,
                },
            ],
            Database => &[
                AttrDef {
                    key: "engine",
                    kind: Text,
                },
                AttrDef {
                    key: "engine_version",
                    kind: Text,
                },
                AttrDef {
                    key: "port",
                    kind: Count,
                },
            ],
            Licence => &[
                AttrDef {
                    key: "seats",
                    kind: Count,
                },
                AttrDef {
                    key: "expires_on",
                    kind: Date,
                },
                AttrDef {
                    key: "licence_type",
                    kind: Text,
                },
            ],
            Other => &[],
        }
    }
}

keyed_enum! {
    /// Where an asset is in its life. Each status change stamps `status_since`, and the
    /// milestones (ordered, received, in production, retired, disposed) keep their dates.
    Status {
        Ordered => "ordered",
        InStock => "in_stock",
        InProduction => "in_production",
        InMaintenance => "in_maintenance",
        OutOfOrder => "out_of_order",
        Retired => "retired",
        Disposed => "disposed",
    }
}

keyed_enum! {
    /// Operating system families. The distribution or edition and the version are free
    /// text beside it (`os_name`, `os_version`); `other` takes anything else.
    OsFamily {
        Linux => "linux",
        Windows => "windows",
        WindowsServer => "windows_server",
        Aix => "aix",
        HpUx => "hp_ux",
        Solaris => "solaris",
        SunOs => "sunos",
        OpenBsd => "openbsd",
        FreeBsd => "freebsd",
        NetBsd => "netbsd",
        MacOs => "macos",
        IbmI => "ibm_i",
        ZOs => "z_os",
        Gcos => "gcos",
        Irix => "irix",
        Android => "android",
        Ios => "ios",
        VmwareEsxi => "vmware_esxi",
        NetworkOs => "network_os",
        Other => "other",
    }
}

impl OsFamily {
    /// The name shown to people (the key is the stable identifier).
    pub fn label(self) -> &'static str {
        match self {
            OsFamily::Linux => "Linux",
            OsFamily::Windows => "Windows",
            OsFamily::WindowsServer => "Windows Server",
            OsFamily::Aix => "AIX",
            OsFamily::HpUx => "HP-UX",
            OsFamily::Solaris => "Solaris",
            OsFamily::SunOs => "SunOS",
            OsFamily::OpenBsd => "OpenBSD",
            OsFamily::FreeBsd => "FreeBSD",
            OsFamily::NetBsd => "NetBSD",
            OsFamily::MacOs => "macOS",
            OsFamily::IbmI => "IBM i (AS/400)",
            OsFamily::ZOs => "z/OS (MVS)",
            OsFamily::Gcos => "GCOS",
            OsFamily::Irix => "IRIX",
            OsFamily::Android => "Android",
            OsFamily::Ios => "iOS",
            OsFamily::VmwareEsxi => "VMware ESXi",
            OsFamily::NetworkOs => "Network OS (IOS, Junos, EOS…)",
            OsFamily::Other => "Other",
        }
    }

    /// Suggested `os_name` values for the family (the field stays free text).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            OsFamily::Linux => LINUX_DISTRIBUTIONS,
            OsFamily::Windows => &["Windows 10", "Windows 11"],
            OsFamily::WindowsServer => &[
                "Windows Server 2012 R2",
                "Windows Server 2016",
                "Windows Server 2019",
                "Windows Server 2022",
                "Windows Server 2025",
            ],
            _ => &[],
        }
    }

    /// Guesses the family from an agent's OS name ("Debian GNU/Linux 12", "Microsoft
    /// Windows Server 2019 Standard", "AIX").
    pub fn guess(name: &str) -> OsFamily {
        let n = name.to_lowercase();
        let has = |s: &str| n.contains(s);
        if has("windows") {
            if has("server") {
                OsFamily::WindowsServer
            } else {
                OsFamily::Windows
            }
        } else if has("esxi") || has("vmkernel") {
            OsFamily::VmwareEsxi
        } else if has("android") {
            OsFamily::Android
        } else if has("ios") && !has("bios") && (has("iphone") || n.starts_with("ios")) {
            OsFamily::Ios
        } else if has("mac os") || has("macos") || has("darwin") {
            OsFamily::MacOs
        } else if has("aix") {
            OsFamily::Aix
        } else if has("hp-ux") || has("hpux") {
            OsFamily::HpUx
        } else if has("solaris") {
            OsFamily::Solaris
        } else if has("sunos") {
            OsFamily::SunOs
        } else if has("openbsd") {
            OsFamily::OpenBsd
        } else if has("freebsd") {
            OsFamily::FreeBsd
        } else if has("netbsd") {
            OsFamily::NetBsd
        } else if has("os/400") || has("ibm i") {
            OsFamily::IbmI
        } else if has("z/os") || has("mvs") {
            OsFamily::ZOs
        } else if has("gcos") {
            OsFamily::Gcos
        } else if has("irix") {
            OsFamily::Irix
        } else if has("linux")
            || LINUX_DISTRIBUTIONS
                .iter()
                .any(|d| n.contains(&d.to_lowercase()))
        {
            OsFamily::Linux
        } else {
            OsFamily::Other
        }
    }
}

pub const LINUX_DISTRIBUTIONS: &[&str] = &[
    "Debian",
    "Ubuntu",
    "Red Hat Enterprise Linux",
    "Rocky Linux",
    "AlmaLinux",
    "CentOS",
    "Fedora",
    "Oracle Linux",
    "SUSE Linux Enterprise Server",
    "openSUSE",
    "Amazon Linux",
    "Alpine Linux",
    "Arch Linux",
    "Linux Mint",
    "Gentoo",
    "Slackware",
    "Mageia",
    "NixOS",
];

keyed_enum! {
    /// The face of a rack a device is mounted on.
    Face {
        Front => "front",
        Rear => "rear",
    }
}

keyed_enum! {
    /// Typed, directed edges between assets. `from` is the dependent side: a VM `runs_on`
    /// its hypervisor, an application `depends_on` its database, a server is
    /// `connected_to` a switch and `powered_by` a PDU, a node is a `member_of` its
    /// cluster, and a backup device `backs_up` what it protects.
    RelationKind {
        RunsOn => "runs_on",
        DependsOn => "depends_on",
        ConnectedTo => "connected_to",
        PoweredBy => "powered_by",
        BacksUp => "backs_up",
        MemberOf => "member_of",
    }
}

impl RelationKind {
    /// Kinds whose graph must stay acyclic: something cannot, through a chain of these,
    /// run on or depend on itself.
    pub fn must_be_acyclic(self) -> bool {
        matches!(self, RelationKind::RunsOn | RelationKind::DependsOn)
    }

    /// Only cabling carries ports and a cable id.
    pub fn has_ports(self) -> bool {
        self == RelationKind::ConnectedTo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for t in AssetType::ALL {
            assert_eq!(AssetType::from_key(t.key()), Some(*t));
        }
        for s in Status::ALL {
            assert_eq!(Status::from_key(s.key()), Some(*s));
        }
        assert_eq!(OsFamily::from_key("nope"), None);
    }

    #[test]
    fn os_family_guesses() {
        assert_eq!(
            OsFamily::guess("Debian GNU/Linux 12 (bookworm)"),
            OsFamily::Linux
        );
        assert_eq!(
            OsFamily::guess("Microsoft Windows Server 2019 Standard"),
            OsFamily::WindowsServer
        );
        assert_eq!(
            OsFamily::guess("Microsoft Windows 11 Pro"),
            OsFamily::Windows
        );
        assert_eq!(OsFamily::guess("AIX"), OsFamily::Aix);
        assert_eq!(OsFamily::guess("VMware ESXi 8.0.2"), OsFamily::VmwareEsxi);
        assert_eq!(OsFamily::guess("Rocky Linux 9.3"), OsFamily::Linux);
        assert_eq!(OsFamily::guess("SunOS"), OsFamily::SunOs);
        assert_eq!(OsFamily::guess("Something else"), OsFamily::Other);
    }
}
