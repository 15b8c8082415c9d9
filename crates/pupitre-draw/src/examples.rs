//! Example drawings, written to `/tmp/svg-examples/*.svg` when `PUPITRE_SVG_EXAMPLES`
//! is set, to look at them (`rsvg-convert -o x.png x.svg`, or a browser).

use crate::*;

/// Where the examples go.
const DIR: &str = "/tmp/svg-examples";

fn device(id: i64, name: &str, kind: &str, rack_u: i32, height_u: i32) -> RackDevice {
    RackDevice {
        id,
        name: name.into(),
        kind: kind.into(),
        status: "in_production".into(),
        rack_u,
        height_u,
        face: Face::Front,
        full_depth: false,
        power_draw_w: Some(i64::from(height_u) * 180),
        href: format!("/assets/{id}"),
    }
}

fn sample_rack() -> RackDrawing {
    let mut devices = vec![
        device(1, "pdu-a01-1", "pdu", 1, 1),
        device(2, "ups-a01", "ups", 2, 3),
        device(3, "san-array-01", "storage_array", 6, 4),
        device(4, "esx-prod-01", "hypervisor", 12, 2),
        device(5, "esx-prod-02", "hypervisor", 14, 2),
        device(6, "esx-prod-03.example.internal", "hypervisor", 16, 2),
        device(7, "db-ora-01", "server", 19, 2),
        device(8, "backup-01", "server", 22, 1),
        device(9, "tape-lib-01", "tape_library", 24, 4),
        device(10, "fw-edge-01", "firewall", 38, 1),
        device(11, "sw-tor-a01", "switch", 40, 1),
        device(12, "sw-tor-a02", "switch", 41, 1),
        device(13, "patch-a01", "patch_panel", 42, 1),
        device(20, "<script>&\"'", "other", 30, 1),
    ];
    devices[1].full_depth = true;
    devices[2].full_depth = true;
    devices[3].full_depth = true;
    devices[4].full_depth = true;
    devices[4].status = "in_maintenance".into();
    devices[6].status = "out_of_order".into();
    devices[12].power_draw_w = None;
    // On the rear: a full-depth server and a half-depth switch.
    let mut rear_server = device(14, "app-rear-01", "server", 32, 2);
    rear_server.face = Face::Rear;
    rear_server.full_depth = true;
    let mut rear_switch = device(15, "sw-oob-01", "switch", 35, 1);
    rear_switch.face = Face::Rear;
    devices.push(rear_server);
    devices.push(rear_switch);
    let mut vpdu = device(16, "vpdu-a01", "pdu", 1, 0);
    vpdu.power_draw_w = Some(40);
    devices.push(vpdu);
    RackDrawing {
        name: "A01 — Salle Nord".into(),
        height_u: 42,
        max_power_w: Some(6000),
        devices,
        labels: Labels {
            front: "Front".into(),
            rear: "Rear".into(),
            free: "Free".into(),
            power: "Power".into(),
        },
    }
}

fn sample_room() -> RoomDrawing {
    let rack = |id: i64, row: i32, col: i32, used_u: i32, power_w: i64| RoomRack {
        id,
        name: format!("{}{:02}", row_label(row), col),
        row,
        col,
        used_u,
        height_u: 42,
        power_w,
        max_power_w: Some(6000),
        href: format!("/racks/{id}"),
    };
    RoomDrawing {
        name: "Salle Nord".into(),
        rows: 3,
        cols: 6,
        racks: vec![
            rack(1, 1, 1, 30, 4200),
            rack(2, 1, 2, 41, 5200),
            rack(3, 1, 3, 12, 1500),
            rack(4, 1, 5, 0, 0),
            rack(5, 2, 1, 42, 6400),
            rack(6, 2, 2, 20, 2000),
            rack(7, 3, 4, 8, 900),
            rack(8, 3, 6, 36, 3100),
            rack(9, 9, 9, 1, 1),
        ],
    }
}

fn node(id: i64, name: &str, kind: &str, state: &str) -> GraphNode {
    GraphNode {
        id,
        name: name.into(),
        kind: kind.into(),
        href: format!("/assets/{id}"),
        state: state.into(),
    }
}

fn sample_graph() -> GraphDrawing {
    GraphDrawing {
        center: node(1, "erp-prod", "application", "ok"),
        upstream: vec![
            (node(2, "vm-erp-app-01", "virtual_machine", "ok"), 1),
            (node(3, "vm-erp-app-02", "virtual_machine", "warning"), 1),
            (node(4, "db-ora-01", "database", "ok"), 1),
            (node(5, "esx-prod-01", "hypervisor", "ok"), 2),
            (node(6, "esx-prod-02", "hypervisor", "critical"), 2),
            (node(7, "san-array-01", "storage_array", ""), 3),
            (node(8, "sw-tor-a01", "switch", ""), 3),
        ],
        downstream: vec![
            (node(10, "portail-rh", "service", ""), 1),
            (node(11, "edi-gateway", "application", ""), 1),
            (node(12, "reporting", "application", ""), 2),
        ],
        edges: vec![
            (1, 2, "runs on".into()),
            (1, 3, "runs on".into()),
            (1, 4, "depends on".into()),
            (2, 5, "hosted by".into()),
            (3, 6, "hosted by".into()),
            (4, 6, "hosted by".into()),
            (5, 7, "stored on".into()),
            (6, 7, "stored on".into()),
            (5, 8, "connected to".into()),
            (6, 8, "connected to".into()),
            (10, 1, "uses".into()),
            (11, 1, "uses".into()),
            (12, 11, "reads from".into()),
        ],
        labels: GraphLabels {
            upstream: "Amont".into(),
            downstream: "Aval".into(),
        },
    }
}

fn crowded_graph() -> GraphDrawing {
    let mut g = sample_graph();
    g.downstream = (0..70)
        .map(|i| {
            (
                node(100 + i, &format!("client-{i:02}"), "workstation", ""),
                1,
            )
        })
        .collect();
    g.edges = (0..70).map(|i| (100 + i, 1, "uses".into())).collect();
    g
}

/// A day of a filling disk, with its thresholds, a recovery and a gap, and its trend.
fn sample_chart() -> Chart {
    let points = (0..288)
        .filter(|i| !(100..112).contains(i))
        .map(|i| {
            let t = i64::from(i) * 300_000;
            (
                t,
                62.0 + f64::from(i) * 0.09 + if i % 24 < 4 { 3.0 } else { 0.0 },
            )
        })
        .collect();
    Chart {
        title: "db1 — Disk /var — used{perfdata=\"/var\"}".into(),
        unit: "%".into(),
        start: 0,
        end: 86_400_000,
        gap: 900_000,
        lines: vec![ChartLine {
            label: "used".into(),
            points,
        }],
        bands: vec![
            ChartBand {
                from: 85.0,
                to: 95.0,
                level: "warning".into(),
            },
            ChartBand {
                from: 95.0,
                to: f64::INFINITY,
                level: "critical".into(),
            },
        ],
        markers: vec![
            ChartMarker {
                at: 30_000_000,
                state: "warning".into(),
                label: "WARNING".into(),
            },
            ChartMarker {
                at: 50_000_000,
                state: "ok".into(),
                label: "OK".into(),
            },
        ],
        trend: Some(((0, 62.0), (150_000_000, 95.0))),
        empty_text: "No data".into(),
    }
}

#[test]
fn write_examples() {
    if std::env::var_os("PUPITRE_SVG_EXAMPLES").is_none() {
        return;
    }
    let mut overloaded = sample_rack();
    overloaded.max_power_w = Some(3000);
    overloaded.labels = Labels {
        front: "Avant".into(),
        rear: "Arrière".into(),
        free: "Libre".into(),
        power: "Puissance".into(),
    };
    let empty_room = RoomDrawing {
        name: "Local technique".into(),
        rows: 0,
        cols: 0,
        racks: vec![],
    };
    let files = [
        ("rack-front", rack_elevation(&sample_rack(), Face::Front)),
        ("rack-rear", rack_elevation(&sample_rack(), Face::Rear)),
        (
            "rack-fr-overloaded",
            rack_elevation(&overloaded, Face::Front),
        ),
        ("room", room_grid(&sample_room())),
        ("room-empty", room_grid(&empty_room)),
        ("graph", dependency_graph(&sample_graph())),
        ("graph-crowded", dependency_graph(&crowded_graph())),
        ("chart", line_chart(&sample_chart())),
        (
            "sparkline",
            sparkline(&sample_chart().lines[0].points, 0, 86_400_000, 3_600_000),
        ),
    ];
    std::fs::create_dir_all(DIR).expect("create the examples folder");
    for (name, svg) in files {
        std::fs::write(format!("{DIR}/{name}.svg"), svg).expect("write an example");
    }
}
