//! The REST API under `/api/v1`: JSON views and handlers. Handlers only translate between
//! JSON and the operations in [`crate::ops`].

pub mod admin;
pub mod agents;
pub mod credentials;
pub mod incidents;
pub mod inventory;
pub mod inventory_csv;
pub mod maintenance;
pub mod me;
pub mod metrics;
pub mod monitoring;
pub mod notify;
pub mod paging;
pub mod runbooks;
pub mod shiftlog;
pub mod system;
pub mod views;
