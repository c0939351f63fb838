//! Fake ERP servers that check what the real APIs check.

pub mod netsuite;
pub mod quickbooks;
pub mod xero;
