//! Rack elevations, NetBox style: one row per unit, U1 at the bottom, the devices of
//! one face drawn over the units they span, then the free space and the power budget.

use crate::svg::{
    Canvas, chars_for, class_key, fit, hatch, human, kind_group, load_class, percent,
};

/// A face of a rack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Face {
    Front,
    Rear,
}

/// A rack to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RackDrawing {
    pub name: String,
    /// Height in units; a drawing shows at most [`MAX_DRAWN_U`] of them.
    pub height_u: i32,
    /// The power budget, if known.
    pub max_power_w: Option<i64>,
    /// Every device mounted in the rack, on either face.
    pub devices: Vec<RackDevice>,
    pub labels: Labels,
}

/// A device mounted in a rack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RackDevice {
    pub id: i64,
    pub name: String,
    /// Asset type key: `server`, `switch`, `pdu`, …
    pub kind: String,
    /// Status key: `in_production`, `in_maintenance`, `out_of_order`, …
    pub status: String,
    /// Lowest unit the device occupies, 1 being the bottom of the rack.
    pub rack_u: i32,
    /// Units occupied; a 0U device (a vertical PDU, say) is not drawn but its power
    /// draw still counts.
    pub height_u: i32,
    /// The face the device is mounted on.
    pub face: Face,
    /// A full-depth device also fills its units on the other face.
    pub full_depth: bool,
    pub power_draw_w: Option<i64>,
    /// Link to the asset page; empty for no link.
    pub href: String,
}

/// Words of the drawing, translated by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    pub front: String,
    pub rear: String,
    pub free: String,
    pub power: String,
}

/// The tallest rack drawn: units above it are left out (racks are 42 to 58 U; this only
/// guards against absurd input).
pub const MAX_DRAWN_U: i32 = 100;

/// Height of one unit, in user units.
const U_H: i32 = 20;
/// Outer margin.
const PAD: i32 = 12;
/// Room left of the rack for the unit numbers.
const GUTTER: i32 = 30;
/// Width of a rail (each side).
const RAIL: i32 = 10;
/// Width of the mounting space between the rails.
const BAY_W: i32 = 240;
/// Height of the title line.
const HEADER: i32 = 30;
/// Height of the free-space and power lines under the rack.
const FOOTER: i32 = 62;

/// Style rules of the elevation, after the shared ones.
pub(crate) const STYLE: &str = "\
.pd-rack .frame{fill:currentColor;fill-opacity:.03;stroke:currentColor;stroke-opacity:.55;stroke-width:1.5}\
.pd-rack .rail{fill:currentColor;fill-opacity:.10}\
.pd-rack .holes{fill:currentColor;fill-opacity:.28}\
.pd-rack .slot{fill:none;stroke:currentColor;stroke-opacity:.16;stroke-dasharray:3 3}\
.pd-rack .un{font-size:9px;fill-opacity:.6}\
.pd-rack .back .box{fill-opacity:.06;stroke-dasharray:5 3}\
.pd-rack .back .hatch{fill:none;stroke:currentColor;stroke-opacity:.22}\
.pd-rack .back text{fill-opacity:.7;font-style:italic}\
.pd-rack .st-in_maintenance .box{stroke:#e0a106;stroke-width:2;stroke-dasharray:6 3}\
.pd-rack .st-out_of_order .box{stroke:#d93025;stroke-width:2.5}\
.pd-rack .st-retired,.pd-rack .st-in_stock,.pd-rack .st-ordered{opacity:.6}\
.pd-rack .dot{stroke:none}\
.pd-rack .st-in_maintenance .dot{fill:#e0a106}\
.pd-rack .st-out_of_order .dot{fill:#d93025}\
.pd-rack .track{fill:currentColor;fill-opacity:.12}";

impl Face {
    /// The other face.
    pub fn other(self) -> Face {
        match self {
            Face::Front => Face::Rear,
            Face::Rear => Face::Front,
        }
    }

    fn label(self, labels: &Labels) -> &str {
        match self {
            Face::Front => &labels.front,
            Face::Rear => &labels.rear,
        }
    }
}

/// How a device shows on the face being drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Mounted on this face.
    Own,
    /// The rear end of a full-depth device mounted on the other face.
    Back,
}

impl RackDevice {
    /// How the device shows on `face`, if at all.
    fn side(&self, face: Face) -> Option<Side> {
        if self.height_u < 1 {
            None
        } else if self.face == face {
            Some(Side::Own)
        } else if self.full_depth {
            Some(Side::Back)
        } else {
            None
        }
    }

    /// The units the device spans, lowest first, clipped to `1..=top`; `None` when none
    /// of them is inside.
    fn span(&self, top: i32) -> Option<(i32, i32)> {
        let lo = self.rack_u.max(1);
        let hi = self.rack_u.saturating_add(self.height_u - 1).min(top);
        (lo <= hi).then_some((lo, hi))
    }
}

/// Units of `face` that no device fills: devices mounted on it, and full-depth devices
/// mounted on the other face. Units outside the rack and overlaps count once.
pub fn free_units(rack: &RackDrawing, face: Face) -> i32 {
    let top = rack.height_u.max(0);
    let mut spans: Vec<(i32, i32)> = rack
        .devices
        .iter()
        .filter(|d| d.side(face).is_some())
        .filter_map(|d| d.span(top))
        .collect();
    spans.sort_unstable();
    let mut used = 0;
    let mut reached = 0; // highest unit counted so far
    for (lo, hi) in spans {
        let lo = lo.max(reached + 1);
        if lo <= hi {
            used += hi - lo + 1;
            reached = hi;
        }
    }
    top - used
}

/// Power drawn by every device in the rack, each counted once whatever its face.
pub fn used_power_w(rack: &RackDrawing) -> i64 {
    rack.devices
        .iter()
        .filter_map(|d| d.power_draw_w)
        .map(|w| w.max(0))
        .fold(0i64, i64::saturating_add)
}

/// The elevation of one face of the rack as a standalone `<svg>` element.
///
/// Each device is a link to its page, with a tooltip giving its name, type, units and
/// power draw. Classes (`dev dev-server grp-compute st-out_of_order`, `back` for the
/// rear end of a full-depth device, `slot` for a free unit, `ok`/`warn`/`over` for the
/// power bar) let the page restyle it.
pub fn rack_elevation(rack: &RackDrawing, face: Face) -> String {
    let units = rack.height_u.clamp(0, MAX_DRAWN_U);
    let width = PAD + GUTTER + 2 * RAIL + BAY_W + PAD;
    let height = PAD + HEADER + units * U_H + FOOTER + PAD;
    let face_label = face.label(&rack.labels);
    let title = format!("{} — {face_label}", rack.name);
    let mut svg = Canvas::new("pd-rack", width, height, &title, STYLE);

    let name_chars = chars_for(BAY_W + 2 * RAIL - 60, 14);
    svg.text(
        "hd",
        PAD + GUTTER,
        PAD + 16,
        "start",
        &fit(&rack.name, name_chars),
    );
    svg.text("mut", width - PAD, PAD + 16, "end", face_label);
    draw_frame(&mut svg, units);
    draw_free_slots(&mut svg, rack, face, units);
    draw_devices(&mut svg, rack, face, units);
    draw_footer(&mut svg, rack, face, PAD + HEADER + units * U_H);
    svg.finish()
}

/// Left edge of the mounting space.
fn bay_x() -> i32 {
    PAD + GUTTER + RAIL
}

/// Top edge of unit `u` in a rack drawn `units` high.
fn unit_top(u: i32, units: i32) -> i32 {
    PAD + HEADER + (units - u) * U_H
}

/// The cabinet outline, both rails with their mounting holes, and the unit numbers.
fn draw_frame(svg: &mut Canvas, units: i32) {
    let (x, y) = (PAD + GUTTER, PAD + HEADER);
    let (w, h) = (2 * RAIL + BAY_W, units * U_H);
    svg.rect("frame", x, y - 4, w, h + 8, 3);
    svg.rect("rail", x, y, RAIL, h, 0);
    svg.rect("rail", x + RAIL + BAY_W, y, RAIL, h, 0);
    let mut holes = String::new();
    for u in 1..=units {
        let top = unit_top(u, units);
        for hx in [x + 3, x + RAIL + BAY_W + 3] {
            for dy in [4, 12] {
                holes.push_str(&format!("M{hx} {}h4v4h-4z", top + dy));
            }
        }
        svg.text("un", x - 5, top + U_H / 2 + 3, "end", &u.to_string());
    }
    if !holes.is_empty() {
        svg.path("holes", &holes);
    }
}

/// An empty slot for every unit of `face` that no device fills.
fn draw_free_slots(svg: &mut Canvas, rack: &RackDrawing, face: Face, units: i32) {
    let mut taken = vec![false; usize::try_from(units).unwrap_or(0)];
    for device in rack.devices.iter().filter(|d| d.side(face).is_some()) {
        if let Some((lo, hi)) = device.span(units) {
            for u in lo..=hi {
                if let Some(slot) = usize::try_from(u - 1).ok().and_then(|i| taken.get_mut(i)) {
                    *slot = true;
                }
            }
        }
    }
    for (i, taken) in (1..=units).zip(taken) {
        if !taken {
            svg.rect(
                "slot",
                bay_x() + 2,
                unit_top(i, units) + 2,
                BAY_W - 4,
                U_H - 4,
                2,
            );
        }
    }
}

/// The devices seen on `face`: rear ends of full-depth devices first, so that devices
/// mounted on this face are drawn over them should the data overlap.
fn draw_devices(svg: &mut Canvas, rack: &RackDrawing, face: Face, units: i32) {
    for wanted in [Side::Back, Side::Own] {
        for device in &rack.devices {
            if device.side(face) == Some(wanted)
                && let Some(span) = device.span(units)
            {
                draw_device(svg, rack, device, wanted, span, units);
            }
        }
    }
}

/// One device: a linked box over its units, its name, and a dot when it is down.
fn draw_device(
    svg: &mut Canvas,
    rack: &RackDrawing,
    device: &RackDevice,
    side: Side,
    (lo, hi): (i32, i32),
    units: i32,
) {
    let kind = class_key(&device.kind);
    let status = class_key(&device.status);
    let back = if side == Side::Back { " back" } else { "" };
    let class = format!(
        "dev{back} dev-{kind} grp-{} st-{status}",
        kind_group(&device.kind)
    );
    let tooltip = device_tooltip(rack, device, side, (lo, hi));
    let (x, y) = (bay_x() + 1, unit_top(hi, units) + 1);
    let (w, h) = (BAY_W - 2, (hi - lo + 1) * U_H - 2);
    svg.item(&device.href, &class, &tooltip, |svg| {
        svg.rect("box", x, y, w, h, 2);
        if side == Side::Back {
            svg.path("hatch", &hatch(x, y, w, h, 8));
        }
        let name = fit(&device.name, chars_for(w - 36, 11));
        svg.text("", x + w / 2, y + h / 2 + 4, "middle", &name);
        if matches!(device.status.as_str(), "out_of_order" | "in_maintenance") {
            svg.raw(&format!(
                "<circle class=\"dot\" cx=\"{}\" cy=\"{}\" r=\"4\"/>",
                x + w - 10,
                y + h / 2
            ));
        }
    });
}

/// "name · type · U3–U4 · 350 W", plus the face when it is the rear end of a full-depth
/// device mounted on the other face.
fn device_tooltip(
    rack: &RackDrawing,
    device: &RackDevice,
    side: Side,
    (lo, hi): (i32, i32),
) -> String {
    let units = if lo == hi {
        format!("U{lo}")
    } else {
        format!("U{lo}–U{hi}")
    };
    let mut parts = vec![device.name.clone(), human(&device.kind), units];
    if let Some(w) = device.power_draw_w {
        parts.push(format!("{w} W"));
    }
    if !device.status.is_empty() {
        parts.push(device.status.clone());
    }
    if side == Side::Back {
        parts.push(device.face.label(&rack.labels).to_string());
    }
    parts.join(" · ")
}

/// "Free: N U", then the power line and its bar when the rack has a budget.
fn draw_footer(svg: &mut Canvas, rack: &RackDrawing, face: Face, rack_bottom: i32) {
    let x = PAD + GUTTER;
    let free = free_units(rack, face);
    svg.text(
        "",
        x,
        rack_bottom + 22,
        "start",
        &format!("{}: {free} U", rack.labels.free),
    );
    let used = used_power_w(rack);
    let line_y = rack_bottom + 40;
    let Some((max, pct)) = rack
        .max_power_w
        .and_then(|max| percent(used, max).map(|pct| (max, pct)))
    else {
        svg.text(
            "",
            x,
            line_y,
            "start",
            &format!("{}: {used} W", rack.labels.power),
        );
        return;
    };
    let line = format!("{}: {used} W / {max} W ({pct}%)", rack.labels.power);
    svg.text("", x, line_y, "start", &line);
    let bar_w = 2 * RAIL + BAY_W;
    let filled = i32::try_from(pct.min(100)).unwrap_or(100) * bar_w / 100;
    svg.rect("track", x, line_y + 7, bar_w, 8, 4);
    if filled > 0 {
        svg.rect(
            &format!("bar {}", load_class(pct)),
            x,
            line_y + 7,
            filled,
            8,
            4,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels {
            front: "Front".into(),
            rear: "Rear".into(),
            free: "Free".into(),
            power: "Power".into(),
        }
    }

    fn device(id: i64, name: &str, rack_u: i32, height_u: i32, face: Face) -> RackDevice {
        RackDevice {
            id,
            name: name.into(),
            kind: "server".into(),
            status: "in_production".into(),
            rack_u,
            height_u,
            face,
            full_depth: false,
            power_draw_w: None,
            href: format!("/assets/{id}"),
        }
    }

    fn rack(devices: Vec<RackDevice>) -> RackDrawing {
        RackDrawing {
            name: "R01".into(),
            height_u: 42,
            max_power_w: Some(5000),
            devices,
            labels: labels(),
        }
    }

    /// The `<a …>…</a>` element of the device linked to `/assets/{id}`, if drawn.
    fn element_of(svg: &str, id: i64) -> Option<&str> {
        let start = svg.find(&format!("<a href=\"/assets/{id}\""))?;
        let len = svg[start..].find("</a>")?;
        Some(&svg[start..start + len])
    }

    #[test]
    fn escapes_user_text() {
        let mut r = rack(vec![device(1, "<script>&\"'", 1, 1, Face::Front)]);
        r.name = "<b>rack</b>".into();
        r.devices[0].href = "/a?x=1&y=\"2\"".into();
        let svg = rack_elevation(&r, Face::Front);
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(svg.contains("href=\"/a?x=1&amp;y=&quot;2&quot;\""));
    }

    #[test]
    fn is_a_standalone_accessible_svg() {
        let svg = rack_elevation(&rack(vec![]), Face::Rear);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("viewBox=\"0 0 "));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>R01 — Rear</title>"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn a_2u_device_at_u1_sits_at_the_bottom() {
        let svg = rack_elevation(
            &rack(vec![device(7, "db1", 1, 2, Face::Front)]),
            Face::Front,
        );
        let el = element_of(&svg, 7).expect("device drawn");
        // U42 starts at PAD + HEADER = 42; U2 (the device's top unit) is 40 units lower.
        let top = PAD + HEADER + 40 * U_H + 1;
        assert!(
            el.contains(&format!(
                "y=\"{top}\" width=\"{}\" height=\"38\"",
                BAY_W - 2
            )),
            "{el}"
        );
        assert!(el.contains("class=\"dev dev-server grp-compute st-in_production\""));
        assert!(el.contains("<title>db1 · server · U1–U2 · in_production</title>"));
    }

    #[test]
    fn a_full_depth_rear_device_shows_on_the_front_hatched() {
        let mut d = device(3, "array", 10, 4, Face::Rear);
        d.full_depth = true;
        d.kind = "storage_array".into();
        let r = rack(vec![d]);
        let front = rack_elevation(&r, Face::Front);
        let el = element_of(&front, 3).expect("rear end drawn on the front");
        assert!(el.contains("class=\"dev back dev-storage_array grp-storage"));
        assert!(el.contains("class=\"hatch\""));
        assert!(el.contains("· Rear</title>"));
        let rear = rack_elevation(&r, Face::Rear);
        let el = element_of(&rear, 3).expect("drawn on its own face");
        assert!(el.starts_with("<a href=\"/assets/3\" class=\"dev dev-storage_array"));
        assert_eq!(free_units(&r, Face::Front), 38);
    }

    #[test]
    fn a_half_depth_rear_device_leaves_the_front_free() {
        let r = rack(vec![device(4, "patch", 42, 1, Face::Rear)]);
        let front = rack_elevation(&r, Face::Front);
        assert!(element_of(&front, 4).is_none());
        assert_eq!(free_units(&r, Face::Front), 42);
        assert_eq!(free_units(&r, Face::Rear), 41);
        assert_eq!(front.matches("class=\"slot\"").count(), 42);
        assert!(element_of(&rack_elevation(&r, Face::Rear), 4).is_some());
    }

    #[test]
    fn free_units_ignore_overlaps_zero_u_and_out_of_range() {
        let mut vpdu = device(5, "vpdu", 1, 0, Face::Front);
        vpdu.kind = "pdu".into();
        let r = rack(vec![
            device(1, "a", 1, 2, Face::Front),
            device(2, "b", 2, 2, Face::Front),  // overlaps U2
            device(3, "c", 41, 4, Face::Front), // sticks out above U42
            device(4, "d", -3, 2, Face::Front), // entirely below U1
            vpdu,
        ]);
        assert_eq!(free_units(&r, Face::Front), 42 - 3 - 2);
        let mut empty = rack(vec![]);
        empty.height_u = 0;
        assert_eq!(free_units(&empty, Face::Front), 0);
        assert!(rack_elevation(&empty, Face::Front).contains("Free: 0 U"));
    }

    #[test]
    fn power_sums_every_device_once_and_shows_the_percentage() {
        let mut a = device(1, "a", 1, 2, Face::Front);
        a.power_draw_w = Some(1200);
        let mut b = device(2, "b", 5, 1, Face::Rear);
        b.power_draw_w = Some(250);
        let mut r = rack(vec![a, b, device(3, "c", 8, 1, Face::Front)]);
        let svg = rack_elevation(&r, Face::Front);
        assert!(svg.contains("Power: 1450 W / 5000 W (29%)"));
        assert!(svg.contains("class=\"bar ok\""));
        assert!(svg.contains("Free: 39 U"));

        r.max_power_w = Some(1700);
        assert!(rack_elevation(&r, Face::Front).contains("(85%)</text><rect class=\"track\""));
        assert!(rack_elevation(&r, Face::Front).contains("class=\"bar warn\""));
        r.max_power_w = Some(1000);
        let svg = rack_elevation(&r, Face::Rear);
        assert!(svg.contains("Power: 1450 W / 1000 W (145%)"));
        assert!(svg.contains("class=\"bar over\""));
        r.max_power_w = None;
        let svg = rack_elevation(&r, Face::Front);
        assert!(svg.contains("Power: 1450 W</text>"));
        assert!(!svg.contains("class=\"track\""));
    }

    #[test]
    fn marks_devices_that_are_down() {
        let mut d = device(9, "broken", 20, 1, Face::Front);
        d.status = "out_of_order".into();
        let svg = rack_elevation(&rack(vec![d]), Face::Front);
        let el = element_of(&svg, 9).expect("drawn");
        assert!(el.contains("st-out_of_order"));
        assert!(el.contains("class=\"dot\""));
    }

    #[test]
    fn is_deterministic() {
        let r = rack(vec![device(1, "a", 1, 2, Face::Front)]);
        assert_eq!(
            rack_elevation(&r, Face::Front),
            rack_elevation(&r, Face::Front)
        );
    }
}
