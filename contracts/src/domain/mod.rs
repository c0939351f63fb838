//! The invoice model and the rules every invoice must satisfy before anything stores it.
//!
//! Nothing in here knows about HTTP, SQL or any ERP: it is the vocabulary the rest of the
//! service speaks. An invoice enters through [`validate::parse_invoice`], which either
//! returns a fully checked [`Invoice`] or the complete list of what is wrong with it.

pub mod ids;
pub mod invoice;
pub mod money;
pub mod sample;
pub mod validate;

pub use invoice::{Address, Customer, Invoice, InvoiceStatus, Line, LineType};
pub use validate::{FieldError, InvoiceError, parse_invoice};
