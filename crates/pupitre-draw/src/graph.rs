//! Dependency graphs around one asset: what it depends on (upstream) in layers above
//! it, what depends on it (downstream) in layers below, nearest layers closest.

use std::collections::{BTreeMap, BTreeSet};

use crate::svg::{Canvas, chars_for, class_key, fit, human, kind_group};

mod edges;

/// A dependency graph to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphDrawing {
    pub center: GraphNode,
    /// Nodes the centre depends on, with their depth (1 = direct).
    pub upstream: Vec<(GraphNode, u32)>,
    /// Nodes depending on the centre, with their depth (1 = direct).
    pub downstream: Vec<(GraphNode, u32)>,
    /// Edges `(from id, to id, kind label)`, drawn as arrows from `from` to `to`.
    pub edges: Vec<(i64, i64, String)>,
    pub labels: GraphLabels,
}

/// An asset in a dependency graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphNode {
    pub id: i64,
    pub name: String,
    /// Asset type key.
    pub kind: String,
    /// Link to the asset page; empty for no link.
    pub href: String,
    /// Monitoring state: empty, or `ok`, `warning`, `critical`.
    pub state: String,
}

/// Words of the drawing, translated by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphLabels {
    pub upstream: String,
    pub downstream: String,
}

/// The most nodes a layer shows: past it, the last place becomes a `+N` box whose
/// tooltip names the nodes left out.
pub const MAX_PER_LAYER: usize = 60;
/// Nodes on one line of a layer; a larger layer wraps onto more lines.
const WRAP: usize = 8;
/// The deepest layer drawn; deeper nodes join it.
const MAX_DEPTH: u32 = 50;

const NODE_W: i32 = 150;
const NODE_H: i32 = 44;
/// Space between nodes on a line.
const H_GAP: i32 = 16;
/// Space between the lines of a wrapped layer.
const ROW_GAP: i32 = 18;
/// Space between layers, where the edges and their labels run.
const LAYER_GAP: i32 = 64;
/// Outer margin.
const PAD: i32 = 12;
/// Room for the layer names, left of the nodes.
const GUTTER: i32 = 100;

/// Style rules of the graph, after the shared ones.
pub(crate) const STYLE: &str = "\
.pd-graph .edge path{fill:none;stroke:currentColor;stroke-opacity:.45;stroke-width:1.3}\
.pd-graph .edge polygon{fill:currentColor;fill-opacity:.6}\
.pd-graph .el{font-size:9px;fill-opacity:.8;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}\
.pd-graph .center .box{stroke-width:2.5;fill-opacity:.32}\
.pd-graph .lbl{font-weight:600;fill-opacity:.6}\
.pd-graph .band{fill:currentColor;fill-opacity:.035}\
.pd-graph .bar{fill:none;stroke:currentColor;stroke-opacity:.45;stroke-width:1.5}\
.pd-graph .bg{fill:#fff}\
.pd-graph .mbox{fill:none;stroke:currentColor;stroke-opacity:.5;stroke-dasharray:4 3}\
.pd-graph .sd{stroke:none}\
.pd-graph .state-ok .sd{fill:#2e9d57}\
.pd-graph .state-warning .sd{fill:#e0a106}\
.pd-graph .state-critical .sd{fill:#d93025}\
.pd-graph .state-critical .box{stroke:#d93025;stroke-width:2.5}\
@media (prefers-color-scheme:dark){.pd-graph .el{stroke:#1b2029}.pd-graph .bg{fill:#1b2029}}";

/// One layer of the drawing: key 0 is the centre, -d the upstream nodes of depth d,
/// +d the downstream ones.
struct Layer<'a> {
    key: i32,
    /// Nodes shown, in drawing order.
    shown: Vec<&'a GraphNode>,
    /// Nodes left out past [`MAX_PER_LAYER`].
    hidden: Vec<&'a GraphNode>,
    /// Top of the layer's first line.
    top: i32,
}

impl Layer<'_> {
    /// Boxes drawn: the nodes shown and the `+N` box.
    fn boxes(&self) -> usize {
        self.shown.len() + usize::from(!self.hidden.is_empty())
    }

    /// Lines the layer takes.
    fn lines(&self) -> i32 {
        i32::try_from(self.boxes().div_ceil(WRAP))
            .unwrap_or(1)
            .max(1)
    }

    fn height(&self) -> i32 {
        self.lines() * NODE_H + (self.lines() - 1) * ROW_GAP
    }
}

/// The geometry shared while drawing: where each box goes.
struct Layout<'a> {
    layers: Vec<Layer<'a>>,
    /// Width of the widest line of boxes.
    content_w: i32,
    /// Top-left corner of every node shown, by id.
    at: BTreeMap<i64, (i32, i32)>,
    /// The layer key of every node (shown or not) in a layer too large for one line:
    /// edges to those go to the layer as a whole.
    bundled: BTreeMap<i64, i32>,
}

impl Layout<'_> {
    /// Top-left corner of box `i` of a layer of `count` boxes whose first line is at `top`.
    fn place(&self, i: usize, count: usize, top: i32) -> (i32, i32) {
        let line = i / WRAP;
        let on_line = (count - line * WRAP).min(WRAP);
        let line_w = span(on_line, NODE_W, H_GAP);
        let col = i32::try_from(i % WRAP).unwrap_or(0);
        let line = i32::try_from(line).unwrap_or(0);
        (
            PAD + GUTTER + (self.content_w - line_w) / 2 + col * (NODE_W + H_GAP),
            top + line * (NODE_H + ROW_GAP),
        )
    }
}

/// Length taken by `n` items of `size` with `gap` between them.
fn span(n: usize, size: i32, gap: i32) -> i32 {
    let n = i32::try_from(n).unwrap_or(0);
    (n * (size + gap) - gap).max(0)
}

/// The graph as a standalone `<svg>` element: upstream layers above the centre
/// (depth 1 nearest), downstream layers below, each node a box linked to its asset
/// page, each edge an arrow labelled with its kind.
///
/// A node listed twice keeps its first place (centre, then upstream, then downstream);
/// an edge to a node not shown (left out of a full layer, or unknown) is not drawn.
/// Nodes in a layer are ordered next to the nodes they connect to in the layers nearer
/// the centre, then by name: the same input always gives the same drawing.
pub fn dependency_graph(g: &GraphDrawing) -> String {
    let layout = lay_out(g);
    let width = PAD + GUTTER + layout.content_w + PAD;
    let height = layout.layers.last().map_or(0, |l| l.top + l.height() + PAD);
    let title = format!(
        "{} — {} / {}",
        g.center.name, g.labels.upstream, g.labels.downstream
    );
    let mut svg = Canvas::new("pd-graph", width, height, &title, STYLE);
    draw_layer_names(&mut svg, &layout, g, width);
    edges::draw_edges(&mut svg, &layout, &g.edges);
    for layer in &layout.layers {
        draw_layer(&mut svg, &layout, layer, g);
    }
    svg.finish()
}

/// Sorts the nodes into layers, orders and caps each layer, and places every box.
fn lay_out(g: &GraphDrawing) -> Layout<'_> {
    let mut layers = collect_layers(g);
    let widest = layers.iter().map(Layer::boxes).max().unwrap_or(1);
    let mut layout = Layout {
        layers: Vec::new(),
        content_w: span(widest.clamp(1, WRAP), NODE_W, H_GAP),
        at: BTreeMap::new(),
        bundled: BTreeMap::new(),
    };
    // Nearest layers first, so each layer can follow the ones already placed.
    layers.sort_by_key(|l| (l.key.abs(), l.key));
    for layer in &mut layers {
        order_layer(layer, &layout.at, &g.edges);
        let count = layer.boxes();
        for (i, node) in layer.shown.iter().enumerate() {
            let (x, _) = layout.place(i, count, 0);
            layout.at.insert(node.id, (x, 0));
        }
    }
    // Then top to bottom, to set the heights.
    layers.sort_by_key(|l| l.key);
    let mut top = PAD;
    for layer in &mut layers {
        layer.top = top;
        let count = layer.boxes();
        for (i, node) in layer.shown.iter().enumerate() {
            let at = layout.place(i, count, top);
            layout.at.insert(node.id, at);
        }
        top += layer.height() + LAYER_GAP;
        if layer.boxes() > WRAP {
            for node in layer.shown.iter().chain(&layer.hidden) {
                layout.bundled.insert(node.id, layer.key);
            }
        }
    }
    layout.layers = layers;
    layout
}

/// The layers of the graph, each node in the first place it is listed.
fn collect_layers(g: &GraphDrawing) -> Vec<Layer<'_>> {
    let mut seen = BTreeSet::new();
    let mut by_key: BTreeMap<i32, Vec<&GraphNode>> = BTreeMap::new();
    seen.insert(g.center.id);
    by_key.entry(0).or_default().push(&g.center);
    let sides = [(-1, &g.upstream), (1, &g.downstream)];
    for (sign, nodes) in sides {
        for (node, depth) in nodes {
            if seen.insert(node.id) {
                let depth = i32::try_from((*depth).clamp(1, MAX_DEPTH)).unwrap_or(1);
                by_key.entry(sign * depth).or_default().push(node);
            }
        }
    }
    by_key
        .into_iter()
        .map(|(key, shown)| Layer {
            key,
            shown,
            hidden: Vec::new(),
            top: 0,
        })
        .collect()
}

/// Orders a layer under the nodes it connects to among those already placed (`at`),
/// the rest after them by name, then moves the nodes past [`MAX_PER_LAYER`] to `hidden`.
fn order_layer<'a>(
    layer: &mut Layer<'a>,
    at: &BTreeMap<i64, (i32, i32)>,
    edges: &[(i64, i64, String)],
) {
    let key = |node: &GraphNode| {
        let xs: Vec<i64> = edges
            .iter()
            .filter_map(|(a, b, _)| match (*a == node.id, *b == node.id) {
                (true, false) => at.get(b),
                (false, true) => at.get(a),
                _ => None,
            })
            .map(|(x, _)| i64::from(*x))
            .collect();
        let len = i64::try_from(xs.len()).unwrap_or(1).max(1);
        let centre = xs.iter().sum::<i64>() / len;
        (xs.is_empty(), centre, node.name.to_lowercase(), node.id)
    };
    layer.shown.sort_by_cached_key(|n| key(n));
    if layer.shown.len() > MAX_PER_LAYER {
        layer.hidden = layer.shown.split_off(MAX_PER_LAYER - 1);
    }
}

/// The name of each layer in the left margin, over a faint band for the centre.
fn draw_layer_names(svg: &mut Canvas, layout: &Layout<'_>, g: &GraphDrawing, width: i32) {
    for layer in &layout.layers {
        let mid = layer.top + NODE_H / 2 + 4;
        let word = match layer.key {
            0 => {
                svg.rect(
                    "band",
                    PAD / 2,
                    layer.top - 10,
                    width - PAD,
                    layer.height() + 20,
                    6,
                );
                continue;
            }
            k if k < 0 => &g.labels.upstream,
            _ => &g.labels.downstream,
        };
        let name = format!(
            "{} {}",
            fit(word, chars_for(GUTTER - 30, 11)),
            layer.key.abs()
        );
        svg.text("lbl", PAD, mid, "start", &name);
    }
}

/// The boxes of one layer: its nodes, then the `+N` box if some are left out.
fn draw_layer(svg: &mut Canvas, layout: &Layout<'_>, layer: &Layer<'_>, g: &GraphDrawing) {
    for node in &layer.shown {
        if let Some(&at) = layout.at.get(&node.id) {
            draw_node(svg, node, at, layer.key, &g.labels);
        }
    }
    if !layer.hidden.is_empty() {
        let (x, y) = layout.place(layer.shown.len(), layer.boxes(), layer.top);
        draw_more(svg, &layer.hidden, x, y);
    }
}

/// One node: a box in its type's colour, linked to its page, with name and type, and a
/// dot for its monitoring state.
fn draw_node(
    svg: &mut Canvas,
    node: &GraphNode,
    (x, y): (i32, i32),
    key: i32,
    labels: &GraphLabels,
) {
    let mut class = format!(
        "node kind-{} grp-{}",
        class_key(&node.kind),
        kind_group(&node.kind)
    );
    if !node.state.is_empty() {
        class.push_str(&format!(" state-{}", class_key(&node.state)));
    }
    if key == 0 {
        class.push_str(" center");
    }
    let mut tooltip = vec![node.name.clone(), human(&node.kind)];
    if key != 0 {
        let side = if key < 0 {
            &labels.upstream
        } else {
            &labels.downstream
        };
        tooltip.push(format!("{side} {}", key.abs()));
    }
    if !node.state.is_empty() {
        tooltip.push(node.state.clone());
    }
    svg.item(&node.href, &class, &tooltip.join(" · "), |svg| {
        svg.rect("bg", x, y, NODE_W, NODE_H, 6);
        svg.rect("box", x, y, NODE_W, NODE_H, 6);
        let name_class = if key == 0 { "b hd" } else { "b" };
        let name_px = if key == 0 { 14 } else { 11 };
        svg.text(
            name_class,
            x + NODE_W / 2,
            y + 19,
            "middle",
            &fit(&node.name, chars_for(NODE_W - 24, name_px)),
        );
        svg.text(
            "sm mut",
            x + NODE_W / 2,
            y + 34,
            "middle",
            &fit(&human(&node.kind), chars_for(NODE_W - 16, 10)),
        );
        if !node.state.is_empty() {
            svg.raw(&format!(
                "<circle class=\"sd\" cx=\"{}\" cy=\"{}\" r=\"4\"/>",
                x + NODE_W - 9,
                y + 9
            ));
        }
    });
}

/// The `+N` box standing for the nodes left out of a layer, naming the first of them
/// in its tooltip.
fn draw_more(svg: &mut Canvas, hidden: &[&GraphNode], x: i32, y: i32) {
    let mut names: Vec<&str> = hidden.iter().take(10).map(|n| n.name.as_str()).collect();
    if hidden.len() > 10 {
        names.push("…");
    }
    svg.item("", "more", &names.join(", "), |svg| {
        svg.rect("bg", x, y, NODE_W, NODE_H, 6);
        svg.rect("mbox", x, y, NODE_W, NODE_H, 6);
        svg.text(
            "b hd",
            x + NODE_W / 2,
            y + NODE_H / 2 + 5,
            "middle",
            &format!("+{}", hidden.len()),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, name: &str, kind: &str) -> GraphNode {
        GraphNode {
            id,
            name: name.into(),
            kind: kind.into(),
            href: format!("/assets/{id}"),
            state: String::new(),
        }
    }

    fn graph() -> GraphDrawing {
        GraphDrawing {
            center: node(1, "app", "application"),
            upstream: vec![
                (node(2, "vm1", "virtual_machine"), 1),
                (node(3, "esx1", "hypervisor"), 2),
            ],
            downstream: vec![(node(4, "portal", "service"), 1)],
            edges: vec![
                (1, 2, "runs on".into()),
                (2, 3, "hosted by".into()),
                (4, 1, "uses".into()),
            ],
            labels: GraphLabels {
                upstream: "Upstream".into(),
                downstream: "Downstream".into(),
            },
        }
    }

    /// The top-left corner of node `id`'s box in the drawing.
    fn corner(svg: &str, id: i64) -> (i32, i32) {
        let link = svg
            .find(&format!("<a href=\"/assets/{id}\""))
            .expect("node drawn");
        let rect = link + svg[link..].find("<rect").expect("box");
        let attr = |name: &str| -> i32 {
            let start =
                rect + svg[rect..].find(&format!(" {name}=\"")).expect("attr") + name.len() + 3;
            let len = svg[start..].find('"').expect("end");
            svg[start..start + len].parse().expect("number")
        };
        (attr("x"), attr("y"))
    }

    #[test]
    fn stacks_upstream_above_and_downstream_below() {
        let svg = dependency_graph(&graph());
        let y = |id| corner(&svg, id).1;
        assert!(y(3) < y(2), "depth 2 above depth 1");
        assert!(y(2) < y(1), "upstream above the centre");
        assert!(y(1) < y(4), "downstream below the centre");
        assert!(svg.contains(">Upstream 2</text>"));
        assert!(svg.contains(">Upstream 1</text>"));
        assert!(svg.contains(">Downstream 1</text>"));
        assert!(svg.contains("class=\"node kind-application grp-other center\""));
    }

    #[test]
    fn draws_edges_with_their_kind() {
        let svg = dependency_graph(&graph());
        assert_eq!(svg.matches("<g class=\"edge").count(), 3);
        assert!(svg.contains(">runs on</text>"));
        assert!(svg.contains("class=\"edge edge-hosted_by\""));
    }

    #[test]
    fn skips_edges_to_unknown_nodes_and_self_loops() {
        let mut g = graph();
        g.edges = vec![
            (1, 99, "x".into()),
            (1, 1, "y".into()),
            (1, 2, "z".into()),
            (1, 2, "z".into()),
        ];
        assert_eq!(dependency_graph(&g).matches("<g class=\"edge").count(), 1);
    }

    #[test]
    fn spreads_a_layer_horizontally() {
        let mut g = graph();
        g.upstream.push((node(5, "vm2", "virtual_machine"), 1));
        let svg = dependency_graph(&g);
        let (x2, y2) = corner(&svg, 2);
        let (x5, y5) = corner(&svg, 5);
        assert_eq!(y2, y5);
        assert_eq!((x2 - x5).abs(), NODE_W + H_GAP);
    }

    #[test]
    fn caps_a_crowded_layer_with_a_more_box() {
        let mut g = graph();
        g.downstream = (0..75)
            .map(|i| (node(100 + i, &format!("n{i:02}"), "server"), 1))
            .collect();
        let svg = dependency_graph(&g);
        assert_eq!(
            svg.matches("class=\"node ").count(),
            1 + 1 + 1 + (MAX_PER_LAYER - 1)
        );
        assert!(svg.contains(">+16</text>"));
        assert!(svg.contains("<title>n59, n60,"));
    }

    #[test]
    fn bundles_the_edges_of_a_wrapped_layer() {
        let mut g = graph();
        g.downstream = (0..20)
            .map(|i| (node(100 + i, &format!("n{i:02}"), "workstation"), 1))
            .collect();
        g.edges = (0..20).map(|i| (100 + i, 1, "uses".to_string())).collect();
        g.edges.push((100, 101, "peer".into())); // inside the layer: not drawn
        let svg = dependency_graph(&g);
        assert_eq!(svg.matches("<g class=\"edge").count(), 1);
        assert!(svg.contains(">uses ×20</text>"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 1);
    }

    #[test]
    fn keeps_a_node_in_its_first_place() {
        let mut g = graph();
        g.downstream.push((node(2, "vm1", "virtual_machine"), 3));
        g.downstream.push((node(1, "app", "application"), 1));
        let svg = dependency_graph(&g);
        assert_eq!(svg.matches("<a href=\"/assets/2\"").count(), 1);
        assert_eq!(svg.matches("<a href=\"/assets/1\"").count(), 1);
        assert!(!svg.contains("Downstream 3"));
    }

    #[test]
    fn is_deterministic_and_escaped() {
        let mut g = graph();
        g.center.name = "<script>&\"'".into();
        g.edges.push((1, 3, "<b>".into()));
        let a = dependency_graph(&g);
        assert_eq!(a, dependency_graph(&g));
        assert!(!a.contains("<script>") && !a.contains("<b>"));
        assert!(a.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(a.contains("&lt;b&gt;"));
    }

    #[test]
    fn a_lone_centre_draws() {
        let mut g = graph();
        g.upstream.clear();
        g.downstream.clear();
        let svg = dependency_graph(&g);
        assert!(svg.contains("<a href=\"/assets/1\""));
        assert!(svg.ends_with("</svg>"));
    }
}
