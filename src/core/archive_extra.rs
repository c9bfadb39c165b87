//! Archivable tables added by later schema versions (indicators, signals, ...).

use crate::core::archive::TableSpec;

pub const TABLES: &[TableSpec] = &[];
