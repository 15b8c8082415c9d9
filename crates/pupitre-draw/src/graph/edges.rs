//! The edges of a dependency graph: curves from box to box, each ending in an arrow
//! and labelled with its kind.
//!
//! A layer too large for one line is drawn with a bar along the side facing each
//! neighbour, and the edges to its nodes become one edge per node outside it and kind,
//! landing on the bar and counted (`uses ×70`): seventy curves would hide the boxes.
//! Where several edges leave the same side of a box, their ends are spread along it.

use std::collections::{BTreeMap, BTreeSet};

use super::{GUTTER, Layout, NODE_H, NODE_W, PAD};
use crate::svg::{Canvas, class_key, fit};

/// Distance from a wrapped layer's boxes to its bars.
const BUS_GAP: i32 = 10;

/// Where an edge ends: a node's box, or the bars of a wrapped layer (by layer key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Node(i64),
    Bus(i32),
}

/// The side of a box an edge leaves or enters by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Top,
    Bottom,
}

impl Side {
    /// Which way is out of the box, vertically.
    fn outward(self) -> i32 {
        match self {
            Side::Top => -1,
            Side::Bottom => 1,
        }
    }
}

/// A box an edge connects: a node, or the whole of a wrapped layer with its bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

impl Rect {
    fn centre_x(self) -> i32 {
        self.x + self.w / 2
    }

    fn edge_y(self, side: Side) -> i32 {
        match side {
            Side::Top => self.y,
            Side::Bottom => self.y + self.h,
        }
    }
}

/// One edge to draw, possibly standing for several of the input.
struct Link<'a> {
    from: End,
    to: End,
    from_box: Rect,
    to_box: Rect,
    kind: &'a str,
    /// Edges of the input it stands for.
    count: usize,
    from_side: Side,
    to_side: Side,
}

/// Draws every edge between boxes shown, under the boxes (call it first).
pub(super) fn draw_edges(svg: &mut Canvas, layout: &Layout<'_>, edges: &[(i64, i64, String)]) {
    let links = bundle(layout, edges);
    let ports = spread_ports(&links);
    draw_bars(svg, &links);
    let mut labels = Vec::new();
    for (i, link) in links.iter().enumerate() {
        let from = ports.get(&(i, true)).copied().unwrap_or((0, 0));
        let to = ports.get(&(i, false)).copied().unwrap_or((0, 0));
        draw_link(svg, link, from, to, &mut labels);
    }
}

/// Resolves each edge to its two ends, dropping self-loops, repeats, edges inside a
/// wrapped layer and edges to nodes not drawn, and merges the edges to a wrapped layer.
fn bundle<'a>(layout: &Layout<'_>, edges: &'a [(i64, i64, String)]) -> Vec<Link<'a>> {
    let mut seen = BTreeSet::new();
    let mut index: BTreeMap<(End, End, &str), usize> = BTreeMap::new();
    let mut links: Vec<Link<'a>> = Vec::new();
    for (a, b, kind) in edges {
        let (Some(from), Some(to)) = (end_of(layout, *a), end_of(layout, *b)) else {
            continue;
        };
        if from == to || !seen.insert((a, b, kind)) {
            continue;
        }
        if let Some(&i) = index.get(&(from, to, kind.as_str())) {
            links[i].count += 1;
            continue;
        }
        let (Some(from_box), Some(to_box)) = (rect_of(layout, from), rect_of(layout, to)) else {
            continue;
        };
        let (from_side, to_side) = sides(from_box, to_box);
        index.insert((from, to, kind.as_str()), links.len());
        links.push(Link {
            from,
            to,
            from_box,
            to_box,
            kind,
            count: 1,
            from_side,
            to_side,
        });
    }
    links
}

/// The end an edge to node `id` goes to, if the node is drawn.
fn end_of(layout: &Layout<'_>, id: i64) -> Option<End> {
    if let Some(&key) = layout.bundled.get(&id) {
        Some(End::Bus(key))
    } else {
        layout.at.contains_key(&id).then_some(End::Node(id))
    }
}

/// The box of an end.
fn rect_of(layout: &Layout<'_>, end: End) -> Option<Rect> {
    match end {
        End::Node(id) => layout.at.get(&id).map(|&(x, y)| Rect {
            x,
            y,
            w: NODE_W,
            h: NODE_H,
        }),
        End::Bus(key) => layout.layers.iter().find(|l| l.key == key).map(|l| Rect {
            x: PAD + GUTTER,
            y: l.top - BUS_GAP,
            w: layout.content_w,
            h: l.height() + 2 * BUS_GAP,
        }),
    }
}

/// The facing sides of two boxes; boxes on one line are joined under them.
fn sides(a: Rect, b: Rect) -> (Side, Side) {
    if a.y + a.h <= b.y {
        (Side::Bottom, Side::Top)
    } else if b.y + b.h <= a.y {
        (Side::Top, Side::Bottom)
    } else {
        (Side::Bottom, Side::Bottom)
    }
}

/// One end of a link on a side of a box, while spreading the ends along it.
#[derive(Clone, Copy)]
struct Port {
    /// Centre of the box at the link's other end.
    other_x: i32,
    link: usize,
    /// Whether this is where the link starts.
    start: bool,
    /// The box this end is on.
    own: Rect,
}

/// Where each link leaves and enters its boxes, keyed by (link index, is its start):
/// the ends on one side of a box are spread along it in the order of the boxes at
/// their other ends, so that they neither pile up nor cross there.
fn spread_ports(links: &[Link<'_>]) -> BTreeMap<(usize, bool), (i32, i32)> {
    let mut sides: BTreeMap<(End, Side), Vec<Port>> = BTreeMap::new();
    for (link, l) in links.iter().enumerate() {
        let from = Port {
            other_x: l.to_box.centre_x(),
            link,
            start: true,
            own: l.from_box,
        };
        let to = Port {
            other_x: l.from_box.centre_x(),
            link,
            start: false,
            own: l.to_box,
        };
        sides.entry((l.from, l.from_side)).or_default().push(from);
        sides.entry((l.to, l.to_side)).or_default().push(to);
    }
    let mut ports = BTreeMap::new();
    for ((end, side), mut ends) in sides {
        ends.sort_unstable_by_key(|p| (p.other_x, p.link, p.start));
        let n = ends.len();
        for (k, p) in ends.into_iter().enumerate() {
            let x = match end {
                End::Node(_) => p.own.centre_x() + offset(k, n, 16, NODE_W - 30),
                End::Bus(_) => {
                    let (left, right) = (p.own.x + 16, p.own.x + p.own.w - 16);
                    p.other_x.clamp(left, right) + offset(k, n, 28, p.own.w)
                }
            };
            ports.insert((p.link, p.start), (x, p.own.edge_y(side)));
        }
    }
    ports
}

/// Offset of the `k`-th of `n` ends spread `step` apart, all within `room`.
fn offset(k: usize, n: usize, step: i32, room: i32) -> i32 {
    if n < 2 {
        return 0;
    }
    let gaps = i32::try_from(n - 1).unwrap_or(i32::MAX);
    let step = step.min(room / gaps);
    let k = i32::try_from(k).unwrap_or(0);
    (2 * k - gaps) * step / 2
}

/// The bar along each side of a wrapped layer that edges land on: a line across the
/// layer with its ends turned towards it.
fn draw_bars(svg: &mut Canvas, links: &[Link<'_>]) {
    let mut bars = BTreeMap::new();
    for l in links {
        for (end, side, rect) in [
            (l.from, l.from_side, l.from_box),
            (l.to, l.to_side, l.to_box),
        ] {
            if let End::Bus(key) = end {
                bars.insert((key, side), rect);
            }
        }
    }
    for ((_, side), r) in bars {
        let y = r.edge_y(side);
        let tick = -5 * side.outward();
        svg.path(
            "bar",
            &format!("M{} {}V{y}H{}V{}", r.x, y + tick, r.x + r.w, y + tick),
        );
    }
}

/// One link: an S-curve between facing sides (a loop under boxes on one line), an
/// arrowhead into the box it goes to, and its label where it overlaps no other.
fn draw_link(
    svg: &mut Canvas,
    link: &Link<'_>,
    (x1, y1): (i32, i32),
    (x2, y2): (i32, i32),
    labels: &mut Vec<[i32; 4]>,
) {
    let reach = if y1 == y2 { 36 } else { (y2 - y1).abs() / 2 };
    let c1 = (x1, y1 + link.from_side.outward() * reach);
    let c2 = (x2, y2 + link.to_side.outward() * reach);
    svg.raw(&format!(
        "<g class=\"edge edge-{}\"><path d=\"M{x1} {y1}C{} {} {} {} {x2} {y2}\"/>",
        class_key(link.kind),
        c1.0,
        c1.1,
        c2.0,
        c2.1
    ));
    let base = y2 + 8 * link.to_side.outward();
    svg.raw(&format!(
        "<polygon points=\"{x2},{y2} {},{base} {},{base}\"/>",
        x2 - 4,
        x2 + 4
    ));
    let text = match link.count {
        1 => fit(link.kind, 24),
        n => format!("{} ×{n}", fit(link.kind, 20)),
    };
    let (lx, ly) = place_label(&text, [(x1, y1), c1, c2, (x2, y2)], labels);
    svg.text("el", lx, ly + 3, "middle", &text);
    svg.raw("</g>");
}

/// A point of the curve for the label, trying its middle first, where the label's
/// box overlaps none already placed; the box is added to `placed`.
fn place_label(text: &str, curve: [(i32, i32); 4], placed: &mut Vec<[i32; 4]>) -> (i32, i32) {
    let half_w = i32::try_from(text.chars().count()).unwrap_or(0) * 3 + 3;
    let boxed = |(x, y): (i32, i32)| [x - half_w, y - 6, x + half_w, y + 6];
    let overlaps = |a: [i32; 4]| {
        placed
            .iter()
            .any(|b| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3])
    };
    let at = [50, 35, 65, 25, 75]
        .into_iter()
        .map(|t| bezier(curve, t))
        .find(|&p| !overlaps(boxed(p)))
        .unwrap_or_else(|| bezier(curve, 50));
    placed.push(boxed(at));
    at
}

/// The point at `percent` along a cubic Bézier curve, rounded to whole units.
fn bezier(p: [(i32, i32); 4], percent: i32) -> (i32, i32) {
    let t = f64::from(percent) / 100.0;
    let u = 1.0 - t;
    let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
    let at = |coord: fn((i32, i32)) -> i32| -> i32 {
        let v: f64 = p.iter().zip(w).map(|(&q, w)| f64::from(coord(q)) * w).sum();
        // Coordinates stay well within i32; `as` saturates anyway.
        v.round() as i32
    };
    (at(|q| q.0), at(|q| q.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_ends_evenly_around_the_middle() {
        assert_eq!(offset(0, 1, 16, 120), 0);
        assert_eq!(
            [
                offset(0, 3, 16, 120),
                offset(1, 3, 16, 120),
                offset(2, 3, 16, 120)
            ],
            [-16, 0, 16]
        );
        // Many ends shrink the step to stay on the side.
        assert_eq!(offset(0, 13, 16, 120), -60);
        assert_eq!(offset(12, 13, 16, 120), 60);
    }

    #[test]
    fn bezier_ends_and_middle() {
        let curve = [(0, 0), (0, 50), (100, 50), (100, 100)];
        assert_eq!(bezier(curve, 0), (0, 0));
        assert_eq!(bezier(curve, 100), (100, 100));
        assert_eq!(bezier(curve, 50), (50, 50));
    }

    #[test]
    fn labels_step_aside_from_each_other() {
        let curve = [(0, 0), (0, 50), (100, 50), (100, 100)];
        let mut placed = Vec::new();
        let a = place_label("uses", curve, &mut placed);
        let b = place_label("uses", curve, &mut placed);
        assert_eq!(a, (50, 50));
        assert_ne!(a, b);
    }
}
