//! Real agent uploads, decoded the way the server will: decompress, tell JSON from XML, parse.
//!
//! Fixtures (`tests/fixtures/`):
//! - `fusion_prolog.zlib`, `fusion_inventory.zlib`: the two POST bodies FusionInventory agent
//!   2.6-3 (Debian 12) sent, byte for byte, to a test server, run as
//!   `fusioninventory-agent --server=… --no-category=process,environment,user,local_user,local_group`
//!   on a Firecracker VM that the agent reports as `VMSYSTEM=Docker` (no SMBIOS, so no UUID,
//!   serial, manufacturer or model).
//! - `fusion_inventory.xml`: the same inventory, decompressed, its 812 `SOFTWARES` cut to 40.
//! - `glpi_inventory_from_fusion.json`: that XML converted as GLPI Agent's
//!   `Protocol::Inventory::normalize` does (lower-case keys, `MACADDR` → `mac`, integers and
//!   booleans typed, `status` lower-cased), so both parsers must agree on it.
//! - `glpi_inventory.json`: a hand-written GLPI Agent inventory of a laptop, following
//!   glpi-project/inventory_format's `inventory.schema.json`.

use pupitre_core::inventory::{AssetType, Disk, Interface, InventoryReport, Software};
use pupitre_intake::decode::{self, Encoding};
use pupitre_intake::glpi::{self, GlpiRequest};
use pupitre_intake::ocs::{self, OcsRequest};
use pupitre_intake::{IntakeError, is_json};

const LIMIT: usize = 16 * 1024 * 1024;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Debug, PartialEq)]
enum Request {
    Ocs(OcsRequest),
    Glpi(GlpiRequest),
}

/// What the web layer will do with a POST body.
fn receive(body: &[u8]) -> Result<(Encoding, Request), IntakeError> {
    let (encoding, data) = decode::decompress(body, LIMIT)?;
    let request = if is_json(&data) {
        Request::Glpi(glpi::parse(&data)?)
    } else {
        Request::Ocs(ocs::parse(&data)?)
    };
    Ok((encoding, request))
}

fn ocs_inventory(body: &[u8]) -> InventoryReport {
    match receive(body) {
        Ok((_, Request::Ocs(OcsRequest::Inventory(report)))) => *report,
        other => panic!("expected an OCS inventory, got {other:?}"),
    }
}

fn glpi_inventory(body: &[u8]) -> InventoryReport {
    match receive(body) {
        Ok((_, Request::Glpi(GlpiRequest::Inventory(report)))) => *report,
        other => panic!("expected a GLPI inventory, got {other:?}"),
    }
}

/// The report of the fixture machine, software aside.
fn fusion_vm() -> InventoryReport {
    InventoryReport {
        device_id: "vm-2026-11-29-16-57-15".into(),
        source: "fusioninventory".into(),
        agent_version: "FusionInventory-Agent_v2.6-3".into(),
        hostname: "vm".into(),
        asset_type: Some(AssetType::VirtualMachine),
        os_name: "Debian GNU/Linux 12 (bookworm)".into(),
        os_version: "12.11".into(),
        cpu_model: "Intel(R) Xeon(R) Processor".into(),
        cpu_sockets: Some(1),
        cpu_cores: Some(2),
        memory_mb: Some(24105),
        interfaces: vec![
            Interface {
                name: "ifb0".into(),
                mac: "72:c8:11:5c:52:b5".into(),
                ..Interface::default()
            },
            Interface {
                name: "ifb1".into(),
                mac: "7a:e6:25:72:1d:aa".into(),
                ..Interface::default()
            },
            Interface {
                name: "eth0".into(),
                mac: "02:fc:00:00:00:01".into(),
                ips: vec![
                    "192.0.2.2".into(),
                    "fd00::2".into(),
                    "fe80::fc:ff:fe00:1".into(),
                ],
                vlan: None,
                // The agent reports SPEED -1: virtio does not know its speed.
                speed_mbps: None,
            },
        ],
        disks: vec![Disk {
            name: "vda".into(),
            model: String::new(),
            serial: "overlayblk".into(),
            size_mb: Some(274877),
        }],
        ..InventoryReport::default()
    }
}

#[test]
fn fusion_prolog_from_the_wire() {
    let (encoding, request) = receive(&fixture("fusion_prolog.zlib")).unwrap();
    assert_eq!(encoding, Encoding::Zlib);
    assert_eq!(
        request,
        Request::Ocs(OcsRequest::Prolog {
            device_id: "vm-2026-11-29-16-57-15".into()
        })
    );
    let reply = decode::compress(encoding, ocs::prolog_reply(true, 24).as_bytes());
    assert_eq!(&reply[..2], &[0x78, 0x9c]);
}

#[test]
fn fusion_inventory_from_the_wire_keeps_every_distinct_package() {
    let body = fixture("fusion_inventory.zlib");
    let (_, xml) = decode::decompress(&body, LIMIT).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    let elements = xml.matches("<SOFTWARES>").count();
    assert_eq!(elements, 812);

    let mut report = ocs_inventory(&body);
    // On this machine every (name, version, publisher) is distinct: nothing is merged.
    assert_eq!(report.software.len(), elements);
    assert_eq!(
        report.software[0],
        Software {
            name: "adduser".into(),
            version: "3.134".into(),
            publisher: "Debian".into(),
        }
    );
    report.software.clear();
    assert_eq!(report, fusion_vm());

    assert_eq!(
        decode::decompress(&body, xml.len() - 1),
        Err(IntakeError::TooLarge {
            limit: xml.len() - 1
        })
    );
}

#[test]
fn fusion_inventory_fixture() {
    let mut report = ocs_inventory(&fixture("fusion_inventory.xml"));
    assert_eq!(report.software.len(), 40);
    assert!(report.software.iter().all(|s| s.publisher == "Debian"));
    report.software.clear();
    assert_eq!(report, fusion_vm());
}

#[test]
fn truncated_fusion_inventory_is_refused() {
    let xml = String::from_utf8(fixture("fusion_inventory.xml")).unwrap();
    // Cut inside a tag: the XML reader's own message.
    let err = ocs::parse(&xml.as_bytes()[..xml.len() / 2]).unwrap_err();
    assert!(matches!(err, IntakeError::Xml { .. }), "{err:?}");
    // Cut between elements: the open elements are named.
    let end = xml.find("</STORAGES>").unwrap() + "</STORAGES>".len();
    let err = ocs::parse(&xml.as_bytes()[..end]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("the document ends inside <REQUEST><CONTENT> (truncated?)"),
        "{err}"
    );
    let wire = fixture("fusion_inventory.zlib");
    assert!(matches!(
        receive(&wire[..wire.len() - 10]),
        Err(IntakeError::Corrupt {
            encoding: Encoding::Zlib,
            ..
        })
    ));
}

#[test]
fn glpi_and_fusion_agree_on_the_same_machine() {
    let fusion = ocs_inventory(&fixture("fusion_inventory.xml"));
    let glpi = glpi_inventory(&fixture("glpi_inventory_from_fusion.json"));
    assert_eq!(glpi.source, "glpi-agent");
    assert_eq!(glpi.agent_version, "GLPI-Agent_v1.7");
    assert_eq!(
        glpi,
        InventoryReport {
            source: glpi.source.clone(),
            agent_version: glpi.agent_version.clone(),
            ..fusion
        }
    );
}

#[test]
fn glpi_laptop_inventory() {
    let body = decode::compress(Encoding::Gzip, &fixture("glpi_inventory.json"));
    let report = glpi_inventory(&body);
    assert_eq!(
        report,
        InventoryReport {
            device_id: "lt-0142-2024-03-11-09-12-44".into(),
            source: "glpi-agent".into(),
            agent_version: "GLPI-Agent_v1.11".into(),
            hostname: "LT-0142".into(),
            domain: "corp.example.com".into(),
            uuid: "4C4C4544-0051-3210-804B-B7C04F463834".into(),
            serial: "7Q2KF84".into(),
            manufacturer: "Dell Inc.".into(),
            model: "Latitude 5440".into(),
            asset_type: Some(AssetType::Laptop),
            os_name: "Ubuntu 24.04.1 LTS".into(),
            os_version: "24.04.1 LTS (Noble Numbat)".into(),
            cpu_model: "13th Gen Intel(R) Core(TM) i5-1345U".into(),
            cpu_sockets: Some(1),
            cpu_cores: Some(10),
            memory_mb: Some(15712),
            interfaces: vec![
                Interface {
                    name: "enp0s31f6".into(),
                    mac: "a4:bb:6d:12:34:56".into(),
                    ips: vec!["10.1.4.27".into(), "2001:db8:4::27".into()],
                    vlan: None,
                    speed_mbps: Some(1000),
                },
                Interface {
                    name: "wlp0s20f3".into(),
                    mac: "8c:f8:c5:aa:bb:cc".into(),
                    ..Interface::default()
                },
            ],
            disks: vec![Disk {
                name: "nvme0n1".into(),
                model: "PM9B1 NVMe Samsung 512GB".into(),
                serial: "S7CKNF0W123456".into(),
                size_mb: Some(476940),
            }],
            software: vec![
                Software {
                    name: "firefox".into(),
                    version: "1:1snap1-0ubuntu5".into(),
                    publisher: "Ubuntu".into(),
                },
                // The amd64 and i386 libc6 differ only by ARCH, which a report does not keep.
                Software {
                    name: "libc6".into(),
                    version: "2.39-0ubuntu8.3".into(),
                    publisher: "Ubuntu".into(),
                },
                Software {
                    name: "Visual Studio Code".into(),
                    version: "1.95.3".into(),
                    publisher: "Microsoft Corporation".into(),
                },
            ],
        }
    );
}

#[test]
fn glpi_contact() {
    let body = br#"{"action":"contact","deviceid":"lt-0142-2024-03-11-09-12-44",
        "name":"GLPI-Agent","version":"1.11","installed-tasks":["inventory","remoteinventory"],
        "enabled-tasks":["inventory"],"tag":"paris"}"#;
    let (encoding, request) = receive(&decode::compress(Encoding::Zlib, body)).unwrap();
    assert_eq!(encoding, Encoding::Zlib);
    assert_eq!(
        request,
        Request::Glpi(GlpiRequest::Contact {
            device_id: "lt-0142-2024-03-11-09-12-44".into()
        })
    );
}

#[test]
fn garbage_is_refused() {
    for body in [
        &b"GET / HTTP/1.1"[..],
        b"\x00\x01\x02",
        b"<html><body>hi</body></html>",
    ] {
        let err = receive(body).unwrap_err();
        assert!(
            matches!(err, IntakeError::Xml { .. } | IntakeError::Protocol(_)),
            "{body:?}: {err:?}"
        );
    }
    assert!(matches!(
        receive(b"{\"action\": \"contact\""),
        Err(IntakeError::Json(_))
    ));
}
