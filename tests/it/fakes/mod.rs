//! Fake ERP servers that check what the real APIs check: one folder per vendor
//! (`quickbooks/`, `xero/`, `netsuite/`), each with its public fake, the rules it enforces
//! in files by concern, and its self tests; `harness` holds what they do the same way
//! (serving, request recording, rate-limit counting, the OAuth book of codes and tokens).

mod harness;
pub mod netsuite;
pub mod quickbooks;
pub mod xero;
