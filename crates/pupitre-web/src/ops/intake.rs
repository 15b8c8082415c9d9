//! Automatic inventory: what field agents report becomes an asset, created or updated in
//! place. FusionInventory, GLPI Agent and Pupitre's own agent all come through
//! [`apply_report`].

use pupitre_core::inventory::{
    self as inv, Asset, AssetInput, AssetType, InventoryReport, Software, Status,
};
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_store::{AssetKeys, InventoryUpdate};

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

/// Most software entries kept from one report (a workstation has a few thousand).
pub const MAX_SOFTWARE: usize = 50_000;

/// What became of a report.
#[derive(Debug)]
pub struct Applied {
    pub asset: Asset,
    pub created: bool,
    pub software: usize,
}

/// Creates or updates the asset `report` describes. The asset is found by the agent's
/// device id, then UUID, serial number and host name; a new one goes to `entity` (in
/// quarantine when the server is set so). Fields a person has taken over are left alone.
pub async fn apply_report(
    st: &AppState,
    caller: &Caller,
    report: &InventoryReport,
    entity: EntityId,
) -> Result<Applied, AppError> {
    if report.device_id.trim().is_empty() && report.hostname.trim().is_empty() {
        return Err(AppError::invalid(
            "device_id",
            "the inventory names neither a device id nor a host name",
        ));
    }
    let keys = AssetKeys {
        asset_type: None,
        serial: report.serial.clone(),
        uuid: report.uuid.clone(),
        asset_tag: String::new(),
        hostname: report.fqdn(),
        device_id: report.device_id.clone(),
    };
    let existing = st.store.find_asset(&keys).await?;
    let (asset_id, mut input) = match existing {
        Some(a) => {
            caller.check(Domain::Inventory, Level::Edit, a.entity_id, "asset")?;
            (Some(a.id), AssetInput::from(a))
        }
        None => {
            caller.target_entity(Domain::Inventory, Level::Edit, entity, "entity_id")?;
            let name = if report.hostname.trim().is_empty() {
                report.device_id.clone()
            } else {
                report.hostname.clone()
            };
            let asset_type = report.asset_type.unwrap_or(AssetType::Server);
            let mut input = AssetInput::new(entity, asset_type, &name);
            input.status = Status::InProduction;
            input.status_since = crate::ops::assets::today();
            input.in_production_on.clone_from(&input.status_since);
            input.quarantined = st.config.inventory_quarantine;
            (None, input)
        }
    };
    inv::merge_report(&mut input, report);
    let input = inv::asset_input(input)?;
    let mut software: Vec<Software> = report.software.clone();
    software.sort();
    software.dedup();
    software.truncate(MAX_SOFTWARE);
    let count = software.len();
    let (asset, created) = st
        .store
        .apply_inventory(
            &caller.actor(),
            &InventoryUpdate {
                asset_id,
                input,
                software,
                device_id: report.device_id.clone(),
            },
        )
        .await
        .map_err(|e| AppError::from_store("asset", e))?;
    crate::ops::check_templates::assets_changed(st, &caller.actor(), &[asset.id]).await;
    Ok(Applied {
        asset,
        created,
        software: count,
    })
}
