//! Pupitre's drawings, as server-rendered SVG: rack elevations, machine-room floor
//! plans, dependency graphs, and time-series charts and sparklines.
//!
//! Every function returns one standalone `<svg>` element, ready to inline in a page or
//! to serve as an `image/svg+xml` file. Each has a `viewBox`, its natural size as
//! `width`/`height` and a style that lets it shrink to its container (`max-width: 100%`),
//! `role="img"` with a `<title>`, and links with tooltips on what it draws. All text
//! from users is escaped. The embedded `<style>` only touches elements under `.pd`;
//! colours are translucent tints and text uses `currentColor`, so the drawings read in
//! light and dark mode and in print, and the page's stylesheet can override any class.
//!
//! Plain std, no dependencies; the same input always gives the same string.

mod chart;
mod graph;
mod rack;
mod room;
mod svg;

pub use chart::{Chart, ChartBand, ChartLine, ChartMarker, line_chart, sparkline};
pub use graph::{GraphDrawing, GraphLabels, GraphNode, MAX_PER_LAYER, dependency_graph};
pub use rack::{
    Face, Labels, MAX_DRAWN_U, RackDevice, RackDrawing, free_units, rack_elevation, used_power_w,
};
pub use room::{MAX_GRID, RoomDrawing, RoomRack, misplaced_racks, room_grid, row_label};
pub use svg::escape;

#[cfg(test)]
mod examples;

/// Every drawing's style rules, for a page that inlines drawings under a Content Security
/// Policy forbidding inline styles: serve this as a stylesheet and inline
/// [`without_style`] drawings.
pub fn stylesheet() -> String {
    [
        svg::BASE_STYLE,
        chart::STYLE,
        graph::STYLE,
        rack::STYLE,
        room::STYLE,
    ]
    .concat()
}

/// The drawing without its embedded `<style>` element (see [`stylesheet`]).
pub fn without_style(svg: &str) -> String {
    match (svg.find("<style>"), svg.find("</style>")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &svg[..start], &svg[end + "</style>".len()..])
        }
        _ => svg.to_owned(),
    }
}
