//! The ledger documents and the rules each must satisfy before anything stores it.
//!
//! Nothing in here knows about HTTP, SQL or any ERP: it is the vocabulary the rest of the
//! service speaks. The documents (`docs/contracts.md`, "The invoice" and "The ledger beyond
//! invoices"):
//!
//! | document | body of | type | parsed by | statuses |
//! |---|---|---|---|---|
//! | invoice | `POST /v1/invoices` | [`Invoice`] | [`parse_invoice`] | `OPEN`, `PAID`, `OVERDUE`, `UNCOLLECTIBLE`, `VOID` |
//! | credit note | `POST /v1/credit-notes` | [`CreditNote`] | [`parse_credit_note`] | `ISSUED`, `VOID` |
//! | payment | `POST /v1/payments` | [`Payment`] | [`parse_payment`] | `SUCCEEDED`, `VOID` |
//! | refund | `POST /v1/refunds` | [`Refund`] | [`parse_refund`] | `SUCCEEDED`, `VOID` |
//! | customer | `PUT /v1/customers/{id}` | [`CustomerUpdate`] | [`parse_customer_update`] | none |
//!
//! - An **invoice** is what a customer is charged: lines that add up to a subtotal, tax, a
//!   total. Its line amounts may be negative (discounts, credits).
//! - A **credit note** gives back part or all of what an invoice charged: invoice lines and
//!   sums, every amount positive, optionally naming the `invoice_id` it credits.
//! - A **payment** is money received, `applied_to` some invoices (each at most once, for at
//!   most the payment's amount in total); the remainder is unapplied credit.
//! - A **refund** is money paid back, usually against a credit note (`credit_note_id`).
//! - A **customer update** is a customer's current details; its id comes from the path.
//!
//! Each parse function either returns a fully checked value or the complete list of what
//! is wrong with the body ([`InvoiceError`] for invoices, [`DocumentError`] for the
//! others; both list [`FieldError`]s with a JSON path such as `lines[2].amount`); the rules
//! are in [`validate`] and its parts. Every checked document implements [`Document`]: its
//! [`DocumentType`] (the `document_type` wire name, e.g. `credit_note`), its webhook event
//! type per version and status (e.g. `credit_note.issued`, `payment.voided`), and one
//! canonical JSON text and content hash, so the same content posted again is recognised as
//! a no-op. Money is `rust_decimal::Decimal` that keeps the scale it arrived with
//! ([`money`]); [`sample`] has one valid example of each document (`examples/`).

mod code;
pub mod credit_note;
pub mod customer_update;
pub mod document;
pub mod ids;
pub mod invoice;
pub mod money;
pub mod payment;
pub mod refund;
pub mod sample;
#[cfg(test)]
mod testing;
pub mod validate;

pub use credit_note::{CreditNote, CreditNoteStatus};
pub use customer_update::CustomerUpdate;
pub use document::{Document, DocumentType};
pub use invoice::{Address, Customer, Invoice, InvoiceStatus, Line, LineType};
pub use payment::{AppliedPayment, Payment, PaymentStatus};
pub use refund::{Refund, RefundStatus};
pub use validate::{
    DocumentError, FieldError, InvoiceError, parse_credit_note, parse_customer_update,
    parse_invoice, parse_payment, parse_refund,
};
