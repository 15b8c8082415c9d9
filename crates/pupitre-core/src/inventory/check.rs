//! Validation of inventory input. Every error names the field and says what is wrong.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{
    AssetInput, AttrKind, BuildingInput, Disk, Interface, RackInput, RelationInput, RoomInput,
    SiteInput,
};
use crate::validate::{FieldError, text};

/// Normalises a MAC address (`00:1A:2b:…`, `00-1a-…`, `001a.2b3c.4d5e`, `001a2b3c4d5e`) to
/// lower-case colon form.
pub fn mac_address(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let hex: String = v
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    let separators_ok = v
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
    if hex.len() != 12 || !separators_ok || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(FieldError::new(
            field,
            format!("{v:?} is not a MAC address (expected six hex bytes, e.g. 00:1a:2b:3c:4d:5e)"),
        ));
    }
    let hex = hex.to_lowercase();
    Ok((0..6)
        .map(|i| &hex[i * 2..i * 2 + 2])
        .collect::<Vec<_>>()
        .join(":"))
}

/// An IPv4 or IPv6 address (no prefix length), in canonical text form.
pub fn ip_address(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    v.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| FieldError::new(field, format!("{v:?} is not an IPv4 or IPv6 address")))
}

/// An optional calendar date, `YYYY-MM-DD`.
pub fn date(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let bad = || FieldError::new(field, format!("{v:?} is not a date (expected YYYY-MM-DD)"));
    let parts: Vec<&str> = v.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(bad());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1900..=2999).contains(&y) || d == 0 || d > days {
        return Err(bad());
    }
    Ok(v.to_owned())
}

/// Parses an amount such as `1234.5` or `1234,56` into hundredths.
pub fn parse_cents(field: &str, value: &str) -> Result<Option<i64>, FieldError> {
    let v = value.trim().replace(',', ".");
    if v.is_empty() {
        return Ok(None);
    }
    let bad = || {
        FieldError::new(
            field,
            format!("{value:?} is not an amount (expected e.g. 1499.90)"),
        )
    };
    let (units, frac) = v.split_once('.').unwrap_or((&v, ""));
    if units.is_empty()
        || frac.len() > 2
        || !units.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || units.len() > 13
    {
        return Err(bad());
    }
    let units: i64 = units.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(Some(units * 100 + frac))
}

pub fn cents_to_text(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    value: Option<T>,
    min: T,
    max: T,
) -> Result<Option<T>, FieldError> {
    match value {
        Some(v) if v < min || v > max => Err(FieldError::new(
            field,
            format!("must be between {min} and {max}"),
        )),
        other => Ok(other),
    }
}

/// An attribute or tag key: letters, digits, `_ . -`, at most 64 characters.
fn key(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim().to_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/'));
    if ok {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            format!("{value:?} must be 1 to 64 letters, digits or _ . - : / with no spaces"),
        ))
    }
}

fn interface(i: usize, input: &Interface) -> Result<Interface, FieldError> {
    let f = |name: &str| format!("interfaces[{i}].{name}");
    let mut ips = Vec::with_capacity(input.ips.len());
    for (j, ip) in input.ips.iter().enumerate() {
        let ip = ip_address(&format!("interfaces[{i}].ips[{j}]"), ip)?;
        if !ip.is_empty() && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(Interface {
        name: text(&f("name"), &input.name, 0, 100)?,
        mac: mac_address(&f("mac"), &input.mac)?,
        ips,
        vlan: range(&f("vlan"), input.vlan, 0, 4094)?,
        speed_mbps: range(&f("speed_mbps"), input.speed_mbps, 0, 10_000_000)?,
    })
}

fn disk(i: usize, input: &Disk) -> Result<Disk, FieldError> {
    let f = |name: &str| format!("disks[{i}].{name}");
    Ok(Disk {
        name: text(&f("name"), &input.name, 0, 200)?,
        model: text(&f("model"), &input.model, 0, 200)?,
        serial: text(&f("serial"), &input.serial, 0, 200)?,
        size_mb: range(&f("size_mb"), input.size_mb, 0, i64::MAX / 2)?,
    })
}

fn attributes(input: &AssetInput) -> Result<BTreeMap<String, String>, FieldError> {
    if input.attributes.len() > 200 {
        return Err(FieldError::new("attributes", "at most 200 attributes"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in &input.attributes {
        let k = key("attributes", k)?;
        let field = format!("attributes.{k}");
        let v = text(&field, v, 0, 2000)?;
        if v.is_empty() {
            continue;
        }
        let def = input.asset_type.attributes().iter().find(|d| d.key == k);
        match def.map(|d| d.kind) {
            Some(AttrKind::Count) if v.parse::<u64>().is_err() => {
                return Err(FieldError::new(field, "must be a whole number"));
            }
            Some(AttrKind::Date) => {
                date(&field, &v)?;
            }
            Some(AttrKind::Choice(list)) if !list.contains(&v.as_str()) => {
                return Err(FieldError::new(
                    field,
                    format!("must be one of {}", list.join(", ")),
                ));
            }
            _ => {}
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Normalises and checks an asset's fields. Whether the entity, team and location exist,
/// and whether the rack units are free, are checked by the store in its transaction.
pub fn asset_input(input: AssetInput) -> Result<AssetInput, FieldError> {
    if input.interfaces.len() > 512 {
        return Err(FieldError::new("interfaces", "at most 512 interfaces"));
    }
    if input.disks.len() > 512 {
        return Err(FieldError::new("disks", "at most 512 disks"));
    }
    if input.tags.len() > 50 {
        return Err(FieldError::new("tags", "at most 50 tags"));
    }
    let mut tags = input
        .tags
        .iter()
        .map(|t| key("tags", t))
        .collect::<Result<Vec<_>, _>>()?;
    tags.sort();
    tags.dedup();
    let interfaces = input
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, x)| interface(i, x))
        .collect::<Result<Vec<_>, _>>()?;
    let disks = input
        .disks
        .iter()
        .enumerate()
        .map(|(i, x)| disk(i, x))
        .collect::<Result<Vec<_>, _>>()?;
    let attributes = attributes(&input)?;
    if input.rack_id.is_none() && (input.rack_u.is_some() || input.rack_face.is_some()) {
        return Err(FieldError::new("rack_u", "a rack position needs a rack_id"));
    }
    if input.rack_id.is_some() && !input.asset_type.is_physical() {
        return Err(FieldError::new(
            "rack_id",
            format!("a {} has no place in a rack", input.asset_type),
        ));
    }
    let hostname = text("hostname", &input.hostname, 0, 253)?;
    if hostname.chars().any(char::is_whitespace) {
        return Err(FieldError::new("hostname", "must not contain spaces"));
    }
    Ok(AssetInput {
        name: text("name", &input.name, 1, 200)?,
        hostname,
        manufacturer: text("manufacturer", &input.manufacturer, 0, 200)?,
        model: text("model", &input.model, 0, 200)?,
        serial: text("serial", &input.serial, 0, 200)?,
        asset_tag: text("asset_tag", &input.asset_tag, 0, 100)?,
        uuid: text("uuid", &input.uuid, 0, 100)?.to_lowercase(),
        status_since: date("status_since", &input.status_since)?,
        ordered_on: date("ordered_on", &input.ordered_on)?,
        received_on: date("received_on", &input.received_on)?,
        in_production_on: date("in_production_on", &input.in_production_on)?,
        retired_on: date("retired_on", &input.retired_on)?,
        disposed_on: date("disposed_on", &input.disposed_on)?,
        rack_u: range("rack_u", input.rack_u, 1, 100)?,
        rack_face: input
            .rack_id
            .map(|_| input.rack_face.unwrap_or(super::Face::Front)),
        height_u: range("height_u", Some(input.height_u), 0, 60)?.unwrap_or(1),
        location_note: text("location_note", &input.location_note, 0, 500)?,
        os_name: text("os_name", &input.os_name, 0, 200)?,
        os_version: text("os_version", &input.os_version, 0, 100)?,
        cpu_model: text("cpu_model", &input.cpu_model, 0, 200)?,
        cpu_sockets: range("cpu_sockets", input.cpu_sockets, 0, 1024)?,
        cpu_cores: range("cpu_cores", input.cpu_cores, 0, 1_000_000)?,
        memory_mb: range("memory_mb", input.memory_mb, 0, 1 << 40)?,
        management_ip: ip_address("management_ip", &input.management_ip)?,
        power_draw_w: range("power_draw_w", input.power_draw_w, 0, 1_000_000)?,
        purchase_date: date("purchase_date", &input.purchase_date)?,
        purchase_cost_cents: range(
            "purchase_cost",
            input.purchase_cost_cents,
            0,
            1_000_000_000_000,
        )?,
        supplier: text("supplier", &input.supplier, 0, 200)?,
        order_ref: text("order_ref", &input.order_ref, 0, 100)?,
        warranty_end: date("warranty_end", &input.warranty_end)?,
        notes: text("notes", &input.notes, 0, 20_000)?,
        interfaces,
        disks,
        attributes,
        tags,
        ..input
    })
}

/// Time zones are checked by the caller, which has the time-zone database.
pub fn site_input(input: SiteInput) -> Result<SiteInput, FieldError> {
    Ok(SiteInput {
        name: text("name", &input.name, 1, 200)?,
        address: text("address", &input.address, 0, 1000)?,
        time_zone: text("time_zone", &input.time_zone, 1, 64)?,
        comment: text("comment", &input.comment, 0, 4000)?,
        ..input
    })
}

pub fn building_input(input: BuildingInput) -> Result<BuildingInput, FieldError> {
    Ok(BuildingInput {
        name: text("name", &input.name, 1, 200)?,
        comment: text("comment", &input.comment, 0, 4000)?,
        ..input
    })
}

pub fn room_input(input: RoomInput) -> Result<RoomInput, FieldError> {
    Ok(RoomInput {
        name: text("name", &input.name, 1, 200)?,
        grid_rows: range("grid_rows", Some(input.grid_rows), 0, 200)?.unwrap_or(0),
        grid_cols: range("grid_cols", Some(input.grid_cols), 0, 200)?.unwrap_or(0),
        power_capacity_w: range("power_capacity_w", input.power_capacity_w, 0, 1 << 40)?,
        cooling_capacity_w: range("cooling_capacity_w", input.cooling_capacity_w, 0, 1 << 40)?,
        notes: text("notes", &input.notes, 0, 4000)?,
        ..input
    })
}

/// Whether the grid position lies in the room and is free is checked by the store.
pub fn rack_input(input: RackInput) -> Result<RackInput, FieldError> {
    if input.grid_row.is_some() != input.grid_col.is_some() {
        return Err(FieldError::new(
            "grid_col",
            "give both grid_row and grid_col, or neither",
        ));
    }
    Ok(RackInput {
        name: text("name", &input.name, 1, 200)?,
        height_u: range("height_u", Some(input.height_u), 1, 100)?.unwrap_or(42),
        grid_row: range("grid_row", input.grid_row, 1, 200)?,
        grid_col: range("grid_col", input.grid_col, 1, 200)?,
        max_power_w: range("max_power_w", input.max_power_w, 0, 1 << 32)?,
        comment: text("comment", &input.comment, 0, 4000)?,
        ..input
    })
}

pub fn relation_input(input: RelationInput) -> Result<RelationInput, FieldError> {
    if input.from_id == input.to_id {
        return Err(FieldError::new(
            "to_id",
            "an asset cannot be related to itself",
        ));
    }
    let ports = !input.from_port.trim().is_empty()
        || !input.to_port.trim().is_empty()
        || !input.cable_id.trim().is_empty();
    if ports && !input.kind.has_ports() {
        return Err(FieldError::new(
            "from_port",
            "ports and cable ids belong to connected_to relations only",
        ));
    }
    Ok(RelationInput {
        from_port: text("from_port", &input.from_port, 0, 100)?,
        to_port: text("to_port", &input.to_port, 0, 100)?,
        cable_id: text("cable_id", &input.cable_id, 0, 100)?,
        comment: text("comment", &input.comment, 0, 2000)?,
        ..input
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::AssetType;

    #[test]
    fn macs_and_ips() {
        for ok in [
            "00:1A:2b:3c:4d:5e",
            "00-1a-2b-3c-4d-5e",
            "001a.2b3c.4d5e",
            "001a2b3c4d5e",
        ] {
            assert_eq!(mac_address("mac", ok).as_deref(), Ok("00:1a:2b:3c:4d:5e"));
        }
        for bad in ["00:1a:2b:3c:4d", "zz:1a:2b:3c:4d:5e", "00 1a 2b 3c 4d 5e"] {
            assert!(mac_address("mac", bad).is_err(), "{bad}");
        }
        assert_eq!(ip_address("ip", " 10.0.0.1 ").as_deref(), Ok("10.0.0.1"));
        assert_eq!(
            ip_address("ip", "2001:DB8::1").as_deref(),
            Ok("2001:db8::1")
        );
        for bad in ["10.0.0.256", "10.0.0.1/24", "host"] {
            let e = ip_address("management_ip", bad).unwrap_err();
            assert_eq!(e.field, "management_ip");
        }
    }

    #[test]
    fn dates_and_amounts() {
        assert!(date("d", "2024-02-29").is_ok());
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "2024/01/01",
            "2024-1-1",
        ] {
            assert!(date("d", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cents("c", "1499.9"), Ok(Some(149_990)));
        assert_eq!(parse_cents("c", "12,05"), Ok(Some(1205)));
        assert_eq!(parse_cents("c", ""), Ok(None));
        assert!(parse_cents("c", "-3").is_err());
        assert!(parse_cents("c", "1.234").is_err());
        assert_eq!(cents_to_text(149_990), "1499.90");
    }

    #[test]
    fn asset_fields_are_normalised_and_errors_name_the_field() {
        let mut a = AssetInput::new(1, AssetType::Server, " web01 ");
        a.tags = vec!["Prod".into(), "prod".into(), "web".into()];
        a.interfaces = vec![Interface {
            name: "eth0".into(),
            mac: "00-1A-2B-3C-4D-5E".into(),
            ips: vec!["10.0.0.1".into()],
            ..Interface::default()
        }];
        let a = asset_input(a).unwrap();
        assert_eq!(a.name, "web01");
        assert_eq!(a.tags, vec!["prod", "web"]);
        assert_eq!(a.interfaces[0].mac, "00:1a:2b:3c:4d:5e");

        let mut bad = a.clone();
        bad.interfaces[0].ips.push("300.1.1.1".into());
        assert_eq!(asset_input(bad).unwrap_err().field, "interfaces[0].ips[1]");

        let mut bad = AssetInput::new(1, AssetType::Licence, "office");
        bad.attributes.insert("seats".into(), "many".into());
        assert_eq!(asset_input(bad).unwrap_err().field, "attributes.seats");

        let mut bad = AssetInput::new(1, AssetType::Application, "erp");
        bad.rack_id = Some(1);
        assert_eq!(asset_input(bad).unwrap_err().field, "rack_id");
    }
}
