//! The host's inventory — hardware, operating system, network interfaces, disks and installed
//! packages — in GLPI Agent's JSON format, so that the server reads it with the same parser
//! (and applies it through the same path) as GLPI Agent's and FusionInventory's.
//!
//! Everything is read without privileges: `/sys/class/dmi/id` (the files root alone may read,
//! such as the serial number, are left empty), `/proc/cpuinfo`, `/proc/meminfo`,
//! `/etc/os-release`, `/sys/block`, the interfaces' addresses, and the package databases (dpkg's
//! status file read directly; `rpm -qa` where rpm is the package manager).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// The first argument that makes the agent's binary the inventory helper (see
/// [`crate::run::Options::inventory_helper`]): `<binary> HELPER_ARG <device id> <host name>`.
pub const HELPER_ARG: &str = "__agent-inventory";

/// The inventory helper: writes the inventory of this host, JSON compressed with gzip, to the
/// standard output. `args` are the device id and the host name.
pub fn helper_main(args: &[String]) -> Result<(), String> {
    use std::io::Write;
    let [device_id, hostname] = args else {
        return Err(format!("usage: {HELPER_ARG} DEVICE_ID HOSTNAME"));
    };
    let body = crate::buffer::gzip_json(&host_inventory(device_id, hostname))
        .map_err(|e| e.to_string())?;
    std::io::stdout()
        .lock()
        .write_all(&body)
        .map_err(|e| e.to_string())
}

/// The inventory of this host, as GLPI Agent would post it.
pub fn host_inventory(device_id: &str, hostname: &str) -> Value {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let os = os_release(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let memory_mb = memory_mb(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default());
    let dmi = |name: &str| read(&format!("/sys/class/dmi/id/{name}"));
    let kernel = nix::sys::utsname::uname().ok();
    let kernel_release = kernel
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let (domain, fqdn) = match hostname.split_once('.') {
        Some((_, domain)) => (domain.to_owned(), hostname.to_owned()),
        None => (String::new(), hostname.to_owned()),
    };
    let mut software =
        dpkg_packages(&std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default());
    if software.is_empty() && Path::new("/var/lib/rpm").is_dir() {
        software = rpm_packages();
    }
    json!({
        "action": "inventory",
        "deviceid": device_id,
        "itemtype": "Computer",
        "content": {
            "versionclient": concat!("pupitre-agent/", env!("CARGO_PKG_VERSION")),
            "hardware": {
                "name": hostname.split('.').next().unwrap_or(hostname),
                "uuid": dmi("product_uuid"),
                "memory": memory_mb,
                "vmsystem": vm_system(&dmi("sys_vendor"), &dmi("product_name"), &cpuinfo),
                "chassis_type": chassis(&dmi("chassis_type")),
                "workgroup": domain,
            },
            "bios": {
                "ssn": dmi("product_serial"),
                "smanufacturer": dmi("sys_vendor"),
                "smodel": dmi("product_name"),
            },
            "operatingsystem": {
                "full_name": os.get("PRETTY_NAME").cloned().unwrap_or_default(),
                "name": os.get("NAME").cloned().unwrap_or_default(),
                "version": os.get("VERSION_ID").cloned().unwrap_or_default(),
                "kernel_version": kernel_release,
                "fqdn": fqdn,
            },
            "cpus": cpus(&cpuinfo),
            "networks": networks(),
            "storages": storages(),
            "softwares": software,
        }
    })
}

/// `/etc/os-release` as key and unquoted value.
pub fn os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches(['"', '\'']).to_owned(),
            )
        })
        .collect()
}

fn memory_mb(meminfo: &str) -> i64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// One entry per physical package, with its model and core count.
pub fn cpus(cpuinfo: &str) -> Vec<Value> {
    // (physical id) → (model, core ids)
    let mut packages: BTreeMap<String, (String, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for block in cpuinfo.split("\n\n") {
        let field = |name: &str| {
            block
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let Some(processor) = field("processor") else {
            continue;
        };
        let package = field("physical id").unwrap_or_else(|| "0".to_owned());
        let core = field("core id").unwrap_or(processor);
        let entry = packages.entry(package).or_default();
        if entry.0.is_empty() {
            entry.0 = field("model name").unwrap_or_default();
        }
        entry.1.insert(core);
    }
    packages
        .into_values()
        .map(|(model, cores)| json!({"name": model, "core": cores.len()}))
        .collect()
}

/// What kind of virtual machine or container this is: empty on bare metal.
fn vm_system(vendor: &str, product: &str, cpuinfo: &str) -> String {
    if Path::new("/.dockerenv").exists() {
        return "Docker".to_owned();
    }
    let known = [
        ("QEMU", "QEMU"),
        ("KVM", "KVM"),
        ("VMware", "VMware"),
        ("VirtualBox", "VirtualBox"),
        ("Xen", "Xen"),
        ("Microsoft Corporation", "Hyper-V"),
        ("Amazon EC2", "Amazon EC2"),
        ("Google", "Google Compute Engine"),
    ];
    for (mark, name) in known {
        if vendor.contains(mark) || product.contains(mark) {
            return name.to_owned();
        }
    }
    let hypervisor = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
    if hypervisor {
        "Virtual Machine".to_owned()
    } else {
        "Physical".to_owned()
    }
}

/// The SMBIOS chassis code as dmidecode names it.
fn chassis(code: &str) -> &'static str {
    match code {
        "3" => "Desktop",
        "4" => "Low Profile Desktop",
        "6" => "Mini Tower",
        "7" => "Tower",
        "8" => "Portable",
        "9" => "Laptop",
        "10" => "Notebook",
        "14" => "Sub Notebook",
        "17" => "Main Server Chassis",
        "23" => "Rack Mount Chassis",
        _ => "",
    }
}

/// Interfaces with their MAC, addresses and speed; the loopback is left out.
fn networks() -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return out;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    let mut addresses: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    if let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() {
        for ifa in ifaddrs {
            let Some(address) = ifa.address else { continue };
            let entry = addresses.entry(ifa.interface_name.clone()).or_default();
            if let Some(v4) = address.as_sockaddr_in() {
                entry.0.push(v4.ip().to_string());
            } else if let Some(v6) = address.as_sockaddr_in6() {
                entry.1.push(v6.ip().to_string());
            }
        }
    }
    for name in names {
        let sys = |f: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{name}/{f}"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let (v4, v6) = addresses.remove(&name).unwrap_or_default();
        let speed: i64 = sys("speed").parse().unwrap_or(0);
        // One record per address, as GLPI Agent sends them; the server merges them.
        let mut records = Vec::new();
        let longest = v4.len().max(v6.len()).max(1);
        for i in 0..longest {
            records.push(json!({
                "description": name,
                "mac": sys("address"),
                "ipaddress": v4.get(i).cloned().unwrap_or_default(),
                "ipaddress6": v6.get(i).cloned().unwrap_or_default(),
                "speed": speed,
                "status": sys("operstate"),
                "virtualdev": u8::from(!Path::new(&format!("/sys/class/net/{name}/device")).exists()),
            }));
        }
        out.extend(records);
    }
    out
}

/// Whole disks (not partitions, loop devices, RAM disks or device-mapper volumes).
fn storages() -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            !["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let sys = |f: &str| {
                std::fs::read_to_string(format!("/sys/block/{name}/{f}"))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            };
            let sectors: i64 = sys("size").parse().unwrap_or(0);
            let serial = match sys("device/serial") {
                s if s.is_empty() => sys("serial"),
                s => s,
            };
            json!({
                "name": name,
                "model": sys("device/model"),
                "serialnumber": serial,
                "disksize": sectors * 512 / 1_000_000,
            })
        })
        .collect()
}

/// Installed packages from dpkg's status file: name, version, and the maintainer as publisher.
pub fn dpkg_packages(status: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let installed = fields
            .get("Status")
            .is_some_and(|s| s.ends_with(" installed"));
        let Some(name) = fields.get("Package").filter(|_| installed) else {
            continue;
        };
        out.push(json!({
            "name": name,
            "version": fields.get("Version").copied().unwrap_or_default(),
            "publisher": fields.get("Maintainer").copied().unwrap_or_default(),
            "arch": fields.get("Architecture").copied().unwrap_or_default(),
        }));
    }
    out
}

fn rpm_packages() -> Vec<Value> {
    let output = std::process::Command::new("rpm")
        .args([
            "-qa",
            "--queryformat",
            "%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{VENDOR}\\n",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let name = parts.next()?;
            Some(json!({
                "name": name,
                "version": parts.next().unwrap_or_default(),
                "publisher": parts.next().filter(|v| *v != "(none)").unwrap_or_default(),
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_lists_installed_packages_only() {
        let status = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\nMaintainer: Matthias Klose <doko@debian.org>\nDescription: GNU shell\n multi-line text: here\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                      Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n";
        let packages = dpkg_packages(status);
        let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["bash", "zlib1g"]);
        assert_eq!(packages[0]["version"], "5.2.15-2+b7");
        assert_eq!(packages[0]["publisher"], "Matthias Klose <doko@debian.org>");
    }

    #[test]
    fn cpus_are_counted_per_package_and_core() {
        let text = "processor\t: 0\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t: 0\n\n\
                    processor\t: 1\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t: 0\n\n\
                    processor\t: 2\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t: 1\n\n\
                    processor\t: 3\nmodel name\t: Xeon\nphysical id\t: 1\ncore id\t: 0\n";
        let cpus = cpus(text);
        assert_eq!(
            cpus,
            vec![
                json!({"name": "Xeon", "core": 2}),
                json!({"name": "Xeon", "core": 1})
            ]
        );
        let os =
            os_release("NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME='Debian 12'\n");
        assert_eq!(os["VERSION_ID"], "12");
        assert_eq!(os["PRETTY_NAME"], "Debian 12");
    }

    #[test]
    fn this_hosts_inventory_reads_as_glpi_agent_content() {
        let inventory = host_inventory("pupitre-agent:test", "host.example.org");
        let content = &inventory["content"];
        assert_eq!(content["hardware"]["name"], "host");
        assert_eq!(content["hardware"]["workgroup"], "example.org");
        assert!(content["hardware"]["memory"].as_i64().unwrap_or(0) > 0);
        assert!(content["cpus"].as_array().is_some_and(|c| !c.is_empty()));
        assert!(
            content["networks"]
                .as_array()
                .is_some_and(|n| n.iter().all(|i| i["description"] != "lo"))
        );
    }
}
