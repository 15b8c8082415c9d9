//! `pupitre inventory …`: export, import and look up assets directly in the database, as
//! the local administrator (audited as `system` from `local`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use pupitre_core::inventory::{Asset, cents_to_text};
use pupitre_store::{AssetFilter, AssetKeys, Page, Store};
use pupitre_web::AppState;
use pupitre_web::auth::Caller;
use pupitre_web::ops::asset_csv::export::{Export, ExportFormat};
use pupitre_web::ops::asset_csv::import::{self, ImportOptions, MatchKey, Stage};
use pupitre_web::ops::assets::{self, AssetListParams};

#[derive(Subcommand, Debug)]
pub enum InventoryCommand {
    /// Write assets as CSV (the import's columns) or JSON; filters are ANDed.
    Export {
        /// `csv` or `json`.
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Asset type, e.g. `server`.
        #[arg(long = "type")]
        asset_type: Option<String>,
        /// Lifecycle status, e.g. `in_production`.
        #[arg(long)]
        status: Option<String>,
        /// Search words: name, host name, serial, asset tag, UUID, MAC, IP or tag prefixes.
        #[arg(long)]
        q: Option<String>,
        /// Entity id.
        #[arg(long)]
        entity: Option<i64>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        manufacturer: Option<String>,
        /// OS family, e.g. `linux`.
        #[arg(long)]
        os_family: Option<String>,
        /// Export the quarantine (agents' unknown machines) instead.
        #[arg(long)]
        quarantined: bool,
    },
    /// Create or update assets from a CSV file; nothing is written if any row has an error.
    Import {
        /// The CSV file, `-` for standard input.
        file: PathBuf,
        /// Check every row and print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Match rows on this key only [default: serial, then asset_tag, then hostname].
        #[arg(long, value_parser = ["serial", "asset_tag", "hostname"])]
        key: Option<String>,
        /// Read the file's HEADER as Pupitre's COLUMN (or as nothing: `HEADER=`); repeat.
        #[arg(long = "map", value_name = "HEADER=COLUMN")]
        map: Vec<String>,
    },
    /// Show one asset: by id, serial number, asset tag, host name or name.
    Show {
        /// What to look for.
        asset: String,
    },
}

pub async fn run(st: &AppState, system: &Caller, command: InventoryCommand) -> anyhow::Result<()> {
    let err = |e: pupitre_web::error::AppError| anyhow::anyhow!("{e}");
    match command {
        InventoryCommand::Export {
            format,
            output,
            asset_type,
            status,
            q,
            entity,
            tag,
            manufacturer,
            os_family,
            quarantined,
        } => {
            let params = AssetListParams {
                q,
                entity_id: entity,
                asset_type,
                status,
                os_family,
                tag,
                manufacturer,
                quarantined: quarantined.then_some(true),
                ..AssetListParams::default()
            };
            let format = ExportFormat::from_key(&format).unwrap_or(ExportFormat::Csv);
            let mut export = Export::start(st, system, &params, format)
                .await
                .map_err(err)?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            while let Some(chunk) = export.next_chunk().await.map_err(err)? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
        }
        InventoryCommand::Import {
            file,
            dry_run,
            key,
            map,
        } => {
            let mut data = Vec::new();
            if file.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut data)?;
            } else {
                data = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
            }
            let mut mapping = BTreeMap::new();
            for m in &map {
                let Some((header, column)) = m.split_once('=') else {
                    bail!("--map {m:?}: write HEADER=COLUMN (COLUMN empty to ignore the column)")
                };
                mapping.insert(header.to_owned(), column.trim().to_owned());
            }
            let opts = ImportOptions {
                dry_run,
                key: key.as_deref().and_then(MatchKey::from_key),
                mapping,
            };
            let tty = std::io::stderr().is_terminal();
            let progress = move |stage: Stage, done: usize, total: usize| {
                if tty && (done.is_multiple_of(1000) || done == total) {
                    let what = match stage {
                        Stage::Check => "checked",
                        Stage::Write => "written",
                    };
                    eprint!("\r{what} {done}/{total} rows ");
                    if done == total {
                        eprintln!();
                    }
                }
            };
            let report = import::import_csv(st, system, &data, &opts, &progress)
                .await
                .map_err(err)?;
            let would = if report.dry_run { "would be " } else { "" };
            if report.dry_run {
                for c in &report.creates {
                    println!("row {}: create {}", c.row, c.name);
                }
                for u in &report.updates {
                    println!(
                        "row {}: update {} (asset {}): {}",
                        u.row,
                        u.name,
                        u.id,
                        u.fields.join(", ")
                    );
                }
            }
            println!(
                "{} rows: {} {would}created, {} {would}updated, {} unchanged",
                report.rows, report.created, report.updated, report.unchanged
            );
            if !report.unkeyed_rows.is_empty() {
                eprintln!(
                    "warning: {} rows have no serial, asset tag or host name; importing them again creates them again (rows {})",
                    report.unkeyed_rows.len(),
                    list(&report.unkeyed_rows)
                );
            }
            if !report.errors.is_empty() {
                for e in &report.errors {
                    let column = if e.column.is_empty() {
                        String::new()
                    } else {
                        format!(", column {}", e.column)
                    };
                    eprintln!("row {}{column}: {}", e.row, e.message);
                }
                bail!(
                    "{} error(s); {}",
                    report.errors.len(),
                    match report.written {
                        0 => "nothing was written".to_owned(),
                        n => format!("the {n} rows before the failed batch were written"),
                    }
                );
            }
        }
        InventoryCommand::Show { asset } => {
            let a = find(st.store.as_ref(), system, &asset).await?;
            show(st, system, &a).await?;
        }
    }
    Ok(())
}

fn list(rows: &[usize]) -> String {
    let shown: Vec<String> = rows.iter().take(20).map(usize::to_string).collect();
    let more = if rows.len() > 20 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The asset `what` designates: an id, else a serial number, asset tag or host name, else
/// a name (case-insensitive).
async fn find(store: &dyn Store, system: &Caller, what: &str) -> anyhow::Result<Asset> {
    if let Ok(id) = what.parse::<i64>()
        && let Ok(a) = store.get_asset(id).await
    {
        return Ok(a);
    }
    let keys = AssetKeys {
        serial: what.to_owned(),
        asset_tag: what.to_owned(),
        hostname: what.to_owned(),
        ..AssetKeys::default()
    };
    if let Some(a) = store.find_asset(&keys).await? {
        return Ok(a);
    }
    let filter = AssetFilter {
        visible: system.visible(pupitre_core::permission::Domain::Inventory),
        query: what.split_whitespace().map(str::to_lowercase).collect(),
        ..AssetFilter::default()
    };
    let page = Page {
        after: None,
        limit: 500,
    };
    let found: Vec<Asset> = store
        .list_assets(&filter, page)
        .await?
        .into_iter()
        .filter(|a| a.name.eq_ignore_ascii_case(what.trim()))
        .collect();
    match found.as_slice() {
        [a] => Ok(a.clone()),
        [] => bail!("no asset has the id, serial number, asset tag, host name or name {what:?}"),
        several => bail!(
            "{} assets are named {what:?}: {}; give an id",
            several.len(),
            several
                .iter()
                .map(|a| format!("{} ({})", a.id, a.asset_type))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Prints an asset for a person: its fields, place, lists, relations and software.
async fn show(st: &AppState, system: &Caller, a: &Asset) -> anyhow::Result<()> {
    let store: &Arc<dyn Store> = &st.store;
    let entities = store.list_entities().await?;
    let mut path = Vec::new();
    let mut at = Some(a.entity_id);
    while let Some(id) = at {
        let Some(e) = entities.iter().find(|e| e.id == id) else {
            break;
        };
        path.push(e.name.clone());
        at = e.parent_id;
        if path.len() > entities.len() {
            break;
        }
    }
    path.reverse();
    println!("{} (asset {})", a.name, a.id);
    let field = |label: &str, value: String| {
        if !value.is_empty() {
            println!("  {label:<16} {value}");
        }
    };
    let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    field("type", a.asset_type.key().to_owned());
    field(
        "status",
        if a.status_since.is_empty() {
            a.status.key().to_owned()
        } else {
            format!("{} since {}", a.status.key(), a.status_since)
        },
    );
    if a.quarantined {
        field("quarantined", "yes, awaiting approval".to_owned());
    }
    field("entity", path.join("/"));
    field("hostname", a.hostname.clone());
    field("manufacturer", a.manufacturer.clone());
    field("model", a.model.clone());
    field("serial", a.serial.clone());
    field("asset tag", a.asset_tag.clone());
    field("uuid", a.uuid.clone());
    if let Some(t) = a.owner_team_id {
        let name = store.get_team(t).await.map(|t| t.name).unwrap_or_default();
        field("owner team", name);
    }
    field(
        "os",
        format!(
            "{} {} {}",
            a.os_family.map(|f| f.label()).unwrap_or_default(),
            a.os_name,
            a.os_version
        )
        .trim()
        .to_owned(),
    );
    field("cpu", a.cpu_model.clone());
    field(
        "cpu sockets/cores",
        match (a.cpu_sockets, a.cpu_cores) {
            (None, None) => String::new(),
            (s, c) => format!("{}/{}", num(s.map(i64::from)), num(c.map(i64::from))),
        },
    );
    field("memory (MB)", num(a.memory_mb));
    field("management ip", a.management_ip.clone());
    field("power draw (W)", num(a.power_draw_w));
    for (label, v) in [
        ("ordered", &a.ordered_on),
        ("received", &a.received_on),
        ("in production", &a.in_production_on),
        ("retired", &a.retired_on),
        ("disposed", &a.disposed_on),
        ("purchased", &a.purchase_date),
        ("warranty end", &a.warranty_end),
    ] {
        field(label, v.clone());
    }
    field(
        "purchase cost",
        a.purchase_cost_cents.map(cents_to_text).unwrap_or_default(),
    );
    field("supplier", a.supplier.clone());
    field("order ref", a.order_ref.clone());
    field("tags", a.tags.join(", "));

    let mut place = Vec::new();
    if let Some(id) = a.site_id {
        place.push(format!("site {}", store.get_site(id).await?.name));
    }
    if let Some(id) = a.room_id {
        place.push(format!("room {}", store.get_room(id).await?.name));
    }
    if let Some(id) = a.rack_id {
        let mut r = format!("rack {}", store.get_rack(id).await?.name);
        if let Some(u) = a.rack_u {
            r.push_str(&format!(
                ", U{u}{} ({} U{})",
                a.rack_face
                    .map(|f| format!(" {}", f.key()))
                    .unwrap_or_default(),
                a.height_u,
                if a.full_depth { ", full depth" } else { "" }
            ));
        }
        place.push(r);
    }
    if !a.location_note.is_empty() {
        place.push(a.location_note.clone());
    }
    if !place.is_empty() {
        println!("Location\n  {}", place.join(" / "));
    }
    if !a.interfaces.is_empty() {
        println!("Interfaces");
        for i in &a.interfaces {
            let mut line = vec![i.name.clone(), i.mac.clone(), i.ips.join(", ")];
            line.extend(i.vlan.map(|v| format!("vlan {v}")));
            line.extend(i.speed_mbps.map(|s| format!("{s} Mb/s")));
            line.retain(|s| !s.is_empty());
            println!("  {}", line.join("  "));
        }
    }
    if !a.disks.is_empty() {
        println!("Disks");
        for d in &a.disks {
            let mut line = vec![d.name.clone(), d.model.clone(), d.serial.clone()];
            line.extend(d.size_mb.map(|s| format!("{s} MB")));
            line.retain(|s| !s.is_empty());
            println!("  {}", line.join("  "));
        }
    }
    if !a.attributes.is_empty() {
        println!("Attributes");
        for (k, v) in &a.attributes {
            println!("  {k} = {v}");
        }
    }
    let (relations, others) = assets::relations(st, system, a)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !relations.is_empty() {
        println!("Relations");
        for r in &relations {
            let label = |id: i64| {
                others.get(&id).map_or_else(
                    || format!("asset {id}"),
                    |o| format!("{} (asset {id})", o.name),
                )
            };
            if r.from_id == a.id {
                println!("  {} {}", r.kind, label(r.to_id));
            } else {
                println!("  {} {} this", label(r.from_id), r.kind);
            }
        }
    }
    println!(
        "Software\n  {} installed",
        store.count_software(a.id).await?
    );
    if !a.notes.is_empty() {
        println!("Notes\n  {}", a.notes.replace('\n', "\n  "));
    }
    Ok(())
}
