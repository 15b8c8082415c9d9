//! The shared plumbing of every drawing: XML escaping, text fitting, the asset-type
//! colour groups, and [`Canvas`], a tiny writer of SVG elements.
//!
//! Coordinates are whole user units (`i32`), so the output is byte-for-byte stable.

/// Escapes text for XML content and attribute values: `& < > " '` become entities, and
/// the control characters XML 1.0 forbids are dropped, so the result is always
/// well-formed whatever a user typed.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether XML 1.0 allows the character (surrogates cannot occur in a `char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
pub(crate) fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// How many characters of text `font_px` high fit in `width` user units (an estimate
/// that errs on the wide side, so names are cut rather than overflowing).
pub(crate) fn chars_for(width: i32, font_px: i32) -> usize {
    let per_char = font_px * 62 / 100;
    usize::try_from(width / per_char.max(1)).unwrap_or(0)
}

/// Turns a free-form key into something safe inside a `class` attribute: lowercase
/// ASCII letters, digits, `_` and `-`; anything else becomes `_`.
pub(crate) fn class_key(key: &str) -> String {
    let key: String = key
        .chars()
        .take(40)
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if key.is_empty() {
        "none".to_string()
    } else {
        key
    }
}

/// An asset type key as words: `storage_array` → `storage array`.
pub(crate) fn human(kind: &str) -> String {
    kind.replace('_', " ")
}

/// The colour group of an asset type key (the same families as the inventory's type
/// groups, folded into the five colours a drawing uses).
pub(crate) fn kind_group(kind: &str) -> &'static str {
    match kind {
        "server" | "virtual_machine" | "hypervisor" | "cluster" | "workstation" => "compute",
        "switch" | "router" | "firewall" | "load_balancer" | "wifi_access_point"
        | "patch_panel" | "pbx" | "operator_link" | "modem" => "network",
        "storage_array" | "nas" | "san_switch" | "tape_library" => "storage",
        "ups" | "pdu" => "power",
        _ => "other",
    }
}

/// Rounded-down percentage of `part` in `whole`; `None` when `whole` is not positive.
pub(crate) fn percent(part: i64, whole: i64) -> Option<i64> {
    if whole <= 0 {
        return None;
    }
    let pct = i128::from(part.max(0)) * 100 / i128::from(whole);
    Some(i64::try_from(pct).unwrap_or(i64::MAX))
}

/// The load class of a percentage: `ok` below 80 %, `warn` from 80 %, `over` from 100 %.
pub(crate) fn load_class(pct: i64) -> &'static str {
    match pct {
        p if p >= 100 => "over",
        p if p >= 80 => "warn",
        _ => "ok",
    }
}

/// Style rules every drawing shares. Selectors all start with `.pd` so that, inlined in
/// a page, they touch nothing else; the page's own stylesheet can override any of them
/// with a selector of higher specificity. Text and frames use `currentColor`, fills are
/// translucent tints, so the drawing reads on light, dark and printed pages alike.
pub(crate) const BASE_STYLE: &str = "\
.pd{max-width:100%;height:auto;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;font-size:11px}\
.pd text{fill:currentColor}\
.pd .hd{font-size:14px;font-weight:600}\
.pd .mut{fill-opacity:.68}\
.pd .sm{font-size:10px}\
.pd .b{font-weight:600}\
.pd a{cursor:pointer}\
.pd a:hover .box,.pd a:focus .box{stroke-width:2.5}\
.pd .box{stroke-width:1.2}\
.pd .grp-compute .box{fill:#2f6fdb;stroke:#2f6fdb}\
.pd .grp-network .box{fill:#12968a;stroke:#12968a}\
.pd .grp-storage .box{fill:#8455d4;stroke:#8455d4}\
.pd .grp-power .box{fill:#d4820f;stroke:#d4820f}\
.pd .grp-other .box{fill:#6b7485;stroke:#6b7485}\
.pd .box{fill-opacity:.18}\
.pd .ok{fill:#2e9d57}.pd .warn{fill:#e0a106}.pd .over{fill:#d93025}\
@media (prefers-color-scheme:dark){\
.pd .grp-compute .box{fill:#6ea2ff;stroke:#6ea2ff}\
.pd .grp-network .box{fill:#3fcab6;stroke:#3fcab6}\
.pd .grp-storage .box{fill:#b794f6;stroke:#b794f6}\
.pd .grp-power .box{fill:#f2b24c;stroke:#f2b24c}\
.pd .grp-other .box{fill:#9aa3b2;stroke:#9aa3b2}\
.pd .box{fill-opacity:.24}\
.pd .ok{fill:#4cc27a}.pd .warn{fill:#f2c14c}.pd .over{fill:#ff6b5e}}\
@media print{.pd .box{fill-opacity:.12}.pd a{cursor:auto}}";

/// An SVG document being written: a root `<svg>` with its accessible title and style,
/// then elements appended in painting order.
pub(crate) struct Canvas {
    buf: String,
}

impl Canvas {
    /// Opens a drawing `width` × `height` user units. `class` names the drawing
    /// (`pd-rack`, …), `title` is its accessible name and `style` its own rules, added
    /// after [`BASE_STYLE`].
    pub(crate) fn new(class: &str, width: i32, height: i32, title: &str, style: &str) -> Self {
        let title = escape(title);
        let buf = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pd {class}\" \
             viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
             role=\"img\" aria-label=\"{title}\">\
             <title>{title}</title><style>{BASE_STYLE}{style}</style>"
        );
        Canvas { buf }
    }

    /// Appends raw markup (the caller has escaped what needs it).
    pub(crate) fn raw(&mut self, markup: &str) {
        self.buf.push_str(markup);
    }

    /// A rectangle with optional rounded corners.
    pub(crate) fn rect(&mut self, class: &str, x: i32, y: i32, w: i32, h: i32, rx: i32) {
        let rx = if rx > 0 {
            format!(" rx=\"{rx}\"")
        } else {
            String::new()
        };
        self.raw(&format!(
            "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\"{rx}/>"
        ));
    }

    /// A line of text; `anchor` is `start`, `middle` or `end`, `content` is escaped.
    pub(crate) fn text(&mut self, class: &str, x: i32, y: i32, anchor: &str, content: &str) {
        let anchor = if anchor == "start" {
            String::new()
        } else {
            format!(" text-anchor=\"{anchor}\"")
        };
        let class = if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{class}\"")
        };
        self.raw(&format!(
            "<text{class} x=\"{x}\" y=\"{y}\"{anchor}>{}</text>",
            escape(content)
        ));
    }

    /// A path with the given `d` data.
    pub(crate) fn path(&mut self, class: &str, d: &str) {
        self.raw(&format!("<path class=\"{class}\" d=\"{d}\"/>"));
    }

    /// A group drawn by `body`, wrapped in a link to `href` (a plain `<g>` when `href`
    /// is empty), whose first child is the `tooltip` title.
    pub(crate) fn item(
        &mut self,
        href: &str,
        class: &str,
        tooltip: &str,
        body: impl FnOnce(&mut Canvas),
    ) {
        let tooltip = escape(tooltip);
        let close = if href.is_empty() {
            self.raw(&format!("<g class=\"{class}\"><title>{tooltip}</title>"));
            "</g>"
        } else {
            let href = escape(href);
            self.raw(&format!(
                "<a href=\"{href}\" class=\"{class}\"><title>{tooltip}</title>"
            ));
            "</a>"
        };
        body(self);
        self.raw(close);
    }

    /// Closes the root element and returns the document.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

/// Diagonal hatching (lines going up to the right, `step` apart) clipped to the
/// rectangle, as path data: computed here rather than with a `<pattern>`, so a page
/// holding several drawings has no clashing element ids.
pub(crate) fn hatch(x: i32, y: i32, w: i32, h: i32, step: i32) -> String {
    let (x1, y1) = (x + w, y + h);
    let mut d = String::new();
    let mut k = x + y + step;
    while k < x1 + y1 {
        // The line x + y = k, between the rectangle's edges.
        let xa = x.max(k - y1);
        let xb = x1.min(k - y);
        if xa < xb {
            d.push_str(&format!("M{xa} {}L{xb} {}", k - xa, k - xb));
        }
        k += step.max(1);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_forbidden_controls() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(escape("a\u{0}b\u{8}c\td"), "abc\td");
        assert_eq!(escape("Baie é 42 ✓"), "Baie é 42 ✓");
    }

    #[test]
    fn fits_text_with_an_ellipsis() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("abcdefghij", 5), "abcd…");
        assert_eq!(fit("éééééé", 3), "éé…");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn class_keys_are_safe() {
        assert_eq!(class_key("in_production"), "in_production");
        assert_eq!(class_key("\"><script>"), "___script_");
        assert_eq!(class_key(""), "none");
    }

    #[test]
    fn percentages_round_down_and_classify() {
        assert_eq!(percent(1450, 5000), Some(29));
        assert_eq!(percent(3999, 5000), Some(79));
        assert_eq!(percent(1, 0), None);
        assert_eq!(load_class(79), "ok");
        assert_eq!(load_class(80), "warn");
        assert_eq!(load_class(100), "over");
    }

    #[test]
    fn hatching_stays_inside_the_rectangle() {
        let d = hatch(10, 10, 20, 10, 6);
        assert!(!d.is_empty());
        let numbers: Vec<i32> = d
            .split(['M', 'L', ' '])
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        for pair in numbers.chunks(2) {
            assert!((10..=30).contains(&pair[0]) && (10..=20).contains(&pair[1]));
        }
    }
}
