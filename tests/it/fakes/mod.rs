//! Fake ERP servers that check what the real APIs check.

pub mod quickbooks;
