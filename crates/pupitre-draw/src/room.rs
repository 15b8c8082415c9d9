//! Machine-room floor plans: a grid of floor tiles, rows lettered A, B, … and columns
//! numbered 1, 2, …, each rack a tile filled to the share of its units in use.

use crate::svg::{Canvas, chars_for, fit, load_class, percent};

/// A room to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomDrawing {
    pub name: String,
    /// Rows of floor tiles; a drawing shows at most [`MAX_GRID`] of them.
    pub rows: i32,
    /// Columns of floor tiles; a drawing shows at most [`MAX_GRID`] of them.
    pub cols: i32,
    pub racks: Vec<RoomRack>,
}

/// A rack standing in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRack {
    pub id: i64,
    pub name: String,
    /// 1-based row (1 is row A).
    pub row: i32,
    /// 1-based column.
    pub col: i32,
    pub used_u: i32,
    pub height_u: i32,
    pub power_w: i64,
    pub max_power_w: Option<i64>,
    /// Link to the rack page; empty for no link.
    pub href: String,
}

/// The most rows, and the most columns, a drawing shows.
pub const MAX_GRID: i32 = 100;

/// Side of a floor tile.
const TILE: i32 = 84;
/// Space between tiles.
const GAP: i32 = 8;
/// Outer margin.
const PAD: i32 = 12;
/// Room for the row letters, left of the grid.
const ROW_LABELS: i32 = 26;
/// Height of the title line and the column numbers above the grid.
const HEADER: i32 = 50;

/// Style rules of the floor plan, after the shared ones.
pub(crate) const STYLE: &str = "\
.pd-room .empty{fill:none;stroke:currentColor;stroke-opacity:.22;stroke-dasharray:4 4}\
.pd-room .tile{fill:currentColor;fill-opacity:.04;stroke:currentColor;stroke-opacity:.55;stroke-width:1.2}\
.pd-room .lvl{fill:#2f6fdb;fill-opacity:.28}\
.pd-room .pwr-warn .tile{stroke:#e0a106;stroke-opacity:1;stroke-width:2.5}\
.pd-room .pwr-over .tile{stroke:#d93025;stroke-opacity:1;stroke-width:2.5}\
.pd-room a:hover .tile,.pd-room a:focus .tile{stroke-width:2.5}\
.pd-room .pct{font-size:16px;font-weight:600}\
.pd-room .lbl{font-weight:600;fill-opacity:.6}\
@media (prefers-color-scheme:dark){.pd-room .lvl{fill:#6ea2ff;fill-opacity:.32}}";

/// The letters of row `n` (1-based), like spreadsheet columns: A … Z, AA, AB, …
pub fn row_label(n: i32) -> String {
    let mut n = n.max(1);
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// The racks [`room_grid`] leaves out: placed outside the grid (or beyond
/// [`MAX_GRID`]), or on a tile an earlier rack of the list already holds. A page can
/// list them under the plan.
pub fn misplaced_racks(room: &RoomDrawing) -> Vec<&RoomRack> {
    let (rows, cols) = drawn_size(room);
    let mut held = Vec::new();
    let mut out = Vec::new();
    for rack in &room.racks {
        let inside = (1..=rows).contains(&rack.row) && (1..=cols).contains(&rack.col);
        if inside && !held.contains(&(rack.row, rack.col)) {
            held.push((rack.row, rack.col));
        } else {
            out.push(rack);
        }
    }
    out
}

/// The floor plan of the room as a standalone `<svg>` element.
///
/// Each rack is a tile linked to its page, filled from the bottom to the share of its
/// units in use, with its power use in the tooltip and a `pwr-warn` (80 %) or `pwr-over`
/// (100 %) class turning its outline amber or red. Free positions are dashed tiles.
/// Racks outside the grid, or on a tile already taken, are left out silently: see
/// [`misplaced_racks`]. A room without a grid (0 rows or 0 columns) draws as a small
/// placeholder carrying its name.
pub fn room_grid(room: &RoomDrawing) -> String {
    let (rows, cols) = drawn_size(room);
    if rows == 0 || cols == 0 {
        return placeholder(room);
    }
    let width = PAD + ROW_LABELS + cols * (TILE + GAP) - GAP + PAD;
    let height = PAD + HEADER + rows * (TILE + GAP) - GAP + PAD;
    let mut svg = Canvas::new("pd-room", width, height, &room.name, STYLE);
    svg.text(
        "hd",
        PAD,
        PAD + 16,
        "start",
        &fit(&room.name, chars_for(width - 2 * PAD, 14)),
    );
    draw_labels(&mut svg, rows, cols);
    let misplaced = misplaced_racks(room);
    let placed: Vec<&RoomRack> = room
        .racks
        .iter()
        .filter(|r| !misplaced.iter().any(|m| std::ptr::eq(*m, *r)))
        .collect();
    for row in 1..=rows {
        for col in 1..=cols {
            let (x, y) = tile_origin(row, col);
            match placed.iter().find(|r| r.row == row && r.col == col) {
                Some(rack) => draw_rack(&mut svg, rack, x, y),
                None => svg.rect("empty", x, y, TILE, TILE, 4),
            }
        }
    }
    svg.finish()
}

/// Rows and columns drawn: the room's, within `0..=MAX_GRID`.
fn drawn_size(room: &RoomDrawing) -> (i32, i32) {
    (room.rows.clamp(0, MAX_GRID), room.cols.clamp(0, MAX_GRID))
}

/// Top-left corner of the tile at `row`, `col` (1-based).
fn tile_origin(row: i32, col: i32) -> (i32, i32) {
    (
        PAD + ROW_LABELS + (col - 1) * (TILE + GAP),
        PAD + HEADER + (row - 1) * (TILE + GAP),
    )
}

/// Column numbers above the grid and row letters left of it.
fn draw_labels(svg: &mut Canvas, rows: i32, cols: i32) {
    for col in 1..=cols {
        let (x, y) = tile_origin(1, col);
        svg.text("lbl", x + TILE / 2, y - 8, "middle", &col.to_string());
    }
    for row in 1..=rows {
        let (x, y) = tile_origin(row, 1);
        svg.text("lbl", x - 8, y + TILE / 2 + 4, "end", &row_label(row));
    }
}

/// One rack tile: outline, fill level, name and fill percentage.
fn draw_rack(svg: &mut Canvas, rack: &RoomRack, x: i32, y: i32) {
    let fill = percent(i64::from(rack.used_u), i64::from(rack.height_u)).unwrap_or(0);
    let power = rack.max_power_w.and_then(|max| percent(rack.power_w, max));
    let class = match power {
        Some(pct) => format!("rack pwr-{}", load_class(pct)),
        None => "rack".to_string(),
    };
    let tooltip = rack_tooltip(rack, fill, power);
    svg.item(&rack.href, &class, &tooltip, |svg| {
        svg.rect("tile", x, y, TILE, TILE, 4);
        let inner = TILE - 6;
        let level = i32::try_from(fill.min(100)).unwrap_or(0) * inner / 100;
        if level > 0 {
            svg.rect("lvl", x + 3, y + 3 + inner - level, inner, level, 2);
        }
        svg.text(
            "b",
            x + TILE / 2,
            y + 18,
            "middle",
            &fit(&rack.name, chars_for(TILE - 10, 11)),
        );
        svg.text(
            "pct",
            x + TILE / 2,
            y + TILE / 2 + 12,
            "middle",
            &format!("{fill}%"),
        );
    });
}

/// "name · 30 / 42 U (71%) · 2400 W / 5000 W (48%)".
fn rack_tooltip(rack: &RoomRack, fill: i64, power: Option<i64>) -> String {
    let units = format!("{} / {} U ({fill}%)", rack.used_u, rack.height_u);
    let power = match (rack.max_power_w, power) {
        (Some(max), Some(pct)) => format!("{} W / {max} W ({pct}%)", rack.power_w),
        _ => format!("{} W", rack.power_w),
    };
    format!("{} · {units} · {power}", rack.name)
}

/// The drawing of a room that has no grid: its name over an empty dashed floor.
fn placeholder(room: &RoomDrawing) -> String {
    let (width, height) = (240, 96);
    let mut svg = Canvas::new("pd-room pd-nogrid", width, height, &room.name, STYLE);
    svg.text(
        "hd",
        PAD,
        PAD + 16,
        "start",
        &fit(&room.name, chars_for(width - 2 * PAD, 14)),
    );
    svg.rect(
        "empty",
        PAD,
        PAD + 28,
        width - 2 * PAD,
        height - 2 * PAD - 28,
        4,
    );
    svg.text(
        "lbl",
        width / 2,
        PAD + 28 + (height - 2 * PAD - 28) / 2 + 4,
        "middle",
        &format!("{} × {}", room.rows.max(0), room.cols.max(0)),
    );
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rack(id: i64, name: &str, row: i32, col: i32) -> RoomRack {
        RoomRack {
            id,
            name: name.into(),
            row,
            col,
            used_u: 21,
            height_u: 42,
            power_w: 2400,
            max_power_w: Some(5000),
            href: format!("/racks/{id}"),
        }
    }

    fn room(rows: i32, cols: i32, racks: Vec<RoomRack>) -> RoomDrawing {
        RoomDrawing {
            name: "Salle 1".into(),
            rows,
            cols,
            racks,
        }
    }

    #[test]
    fn letters_rows_like_floor_tiles() {
        assert_eq!(row_label(1), "A");
        assert_eq!(row_label(26), "Z");
        assert_eq!(row_label(27), "AA");
        assert_eq!(row_label(52), "AZ");
        assert_eq!(row_label(53), "BA");
    }

    #[test]
    fn labels_rows_and_columns() {
        let svg = room_grid(&room(3, 4, vec![]));
        // The text of every row or column label, in drawing order.
        let labels: Vec<&str> = svg
            .split("<text class=\"lbl\" ")
            .skip(1)
            .filter_map(|t| t.split_once('>')?.1.split_once("</text>"))
            .map(|(text, _)| text)
            .collect();
        assert_eq!(labels, ["1", "2", "3", "4", "A", "B", "C"]);
        assert_eq!(svg.matches("class=\"empty\"").count(), 12);
    }

    #[test]
    fn draws_racks_as_linked_tiles_with_fill_and_power() {
        let mut hot = rack(2, "B2", 2, 3);
        hot.power_w = 4500;
        let svg = room_grid(&room(2, 3, vec![rack(1, "A1", 1, 1), hot]));
        assert_eq!(svg.matches("class=\"empty\"").count(), 4);
        assert!(svg.contains("<a href=\"/racks/1\" class=\"rack pwr-ok\">"));
        assert!(svg.contains("<title>A1 · 21 / 42 U (50%) · 2400 W / 5000 W (48%)</title>"));
        assert!(svg.contains(">50%</text>"));
        assert!(svg.contains("<a href=\"/racks/2\" class=\"rack pwr-warn\">"));
        // Rack B2 is in row 2, column 3.
        let (x, y) = tile_origin(2, 3);
        assert!(svg.contains(&format!("<rect class=\"tile\" x=\"{x}\" y=\"{y}\"")));
    }

    #[test]
    fn skips_racks_outside_the_grid_or_on_a_taken_tile() {
        let r = room(
            2,
            2,
            vec![
                rack(1, "in", 1, 1),
                rack(2, "out", 3, 1),
                rack(3, "zero", 0, 1),
                rack(4, "dup", 1, 1),
            ],
        );
        let svg = room_grid(&r);
        assert!(svg.contains("/racks/1"));
        for id in [2, 3, 4] {
            assert!(!svg.contains(&format!("/racks/{id}\"")));
        }
        let ids: Vec<i64> = misplaced_racks(&r).iter().map(|r| r.id).collect();
        assert_eq!(ids, [2, 3, 4]);
    }

    #[test]
    fn a_room_without_a_grid_is_a_placeholder() {
        let svg = room_grid(&room(0, 0, vec![rack(1, "A1", 1, 1)]));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>Salle 1</title>"));
        assert!(svg.contains("0 × 0"));
        assert!(!svg.contains("/racks/1"));
    }

    #[test]
    fn escapes_user_text() {
        let mut r = rack(1, "<script>&\"'", 1, 1);
        r.href = "/r?a=1&b=2".into();
        let mut rm = room(1, 1, vec![r]);
        rm.name = "<i>room</i>".into();
        let svg = room_grid(&rm);
        assert!(!svg.contains("<script>") && !svg.contains("<i>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(svg.contains("href=\"/r?a=1&amp;b=2\""));
    }
}
