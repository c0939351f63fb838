//! Readers for the parts several documents share: the currency and its precision, the
//! customer and its address, invoice-style lines and their sums, and `metadata`.

use super::checker::{Checker, Field, checked_sum, optional};
use crate::domain::invoice::{Address, Customer, Line, LineType};
use iso_currency::Currency as Iso4217;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// The amounts of one line that take part in the document's sums.
///
/// `amount` is `None` when it did not parse; `tax` follows the optional-reader convention
/// (`None`: did not parse, `Some(None)`: absent).
pub(super) struct LineSums {
    pub(super) amount: Option<Decimal>,
    pub(super) tax: Option<Option<Decimal>>,
}

/// A currency read from a document: its upper-cased code and number of decimal places.
pub(super) type Currency = (String, u16);

/// What an invoice and a credit note share, read in this order after their own fields:
/// the customer, the lines, the sums and `metadata`.
pub(super) struct Billing {
    pub(super) customer: Option<Customer>,
    pub(super) lines: Option<Vec<Line>>,
    /// The lines' amounts, when `lines` is a non-empty array.
    pub(super) sums: Option<Vec<LineSums>>,
    pub(super) subtotal: Option<Decimal>,
    pub(super) tax_total: Option<Decimal>,
    pub(super) total: Option<Decimal>,
    pub(super) metadata: Option<Map<String, Value>>,
}

impl Checker {
    /// The required top-level `status`, one of `all`.
    pub(super) fn status<T: Copy>(
        &mut self,
        obj: &Map<String, Value>,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        self.code(obj, "", "status", all, name)
    }

    /// Records a problem when `amount` has more decimal places than `currency`, once both
    /// parsed.
    pub(super) fn fits_currency(
        &mut self,
        field: impl fmt::Display,
        amount: Option<Decimal>,
        currency: Option<&Currency>,
    ) {
        if let (Some(amount), Some((code, exponent))) = (amount, currency) {
            self.currency_precision(field, amount, code, *exponent);
        }
    }

    /// Records the problems of a money amount that must be greater than zero and fit the
    /// currency, once it parsed.
    pub(super) fn positive_money(
        &mut self,
        field: impl fmt::Display + Copy,
        amount: Option<Decimal>,
        currency: Option<&Currency>,
    ) {
        if let Some(amount) = amount {
            self.positive(field, amount);
        }
        self.fits_currency(field, amount, currency);
    }

    /// The required top-level `currency`: its upper-cased code and number of decimal
    /// places. `unusable` ends the message for a currency without a minor unit, e.g.
    /// `"invoices cannot be issued in it"`.
    pub(super) fn currency(
        &mut self,
        obj: &Map<String, Value>,
        unusable: &str,
    ) -> Option<Currency> {
        let v = self.required(obj, "", "currency")?;
        self.currency_code(v, unusable)
    }

    /// The optional top-level `currency`, as [`Checker::currency`] reads it.
    pub(super) fn optional_currency(
        &mut self,
        obj: &Map<String, Value>,
        unusable: &str,
    ) -> Option<Option<Currency>> {
        self.optional_as(obj, "", "currency", |checker, v, _| {
            checker.currency_code(v, unusable)
        })
    }

    fn currency_code(&mut self, v: &Value, unusable: &str) -> Option<Currency> {
        let given = self.string(v, "currency".into())?;
        let code = given.to_ascii_uppercase();
        let Some(currency) = Iso4217::from_code(&code) else {
            self.push(
                "currency",
                format!("must be an ISO 4217 currency code such as \"USD\" (got {given:?})"),
            );
            return None;
        };
        let Some(exponent) = currency.exponent() else {
            self.push(
                "currency",
                format!("{code} has no minor unit, so {unusable}"),
            );
            return None;
        };
        Some((code, exponent))
    }

    /// Records a problem when `amount` has more decimal places than the currency (trailing
    /// zeros don't count).
    pub(super) fn currency_precision(
        &mut self,
        field: impl fmt::Display,
        amount: Decimal,
        code: &str,
        exponent: u16,
    ) {
        if amount.normalize().scale() > u32::from(exponent) {
            let places = match exponent {
                0 => "no decimal places".to_owned(),
                1 => "at most 1 decimal place".to_owned(),
                n => format!("at most {n} decimal places"),
            };
            self.push(
                field,
                format!("must have {places} in {code} (got \"{amount}\")"),
            );
        }
    }

    /// The required top-level `customer`: an object with `id`, `name`, and optionally
    /// `email` and `address`.
    pub(super) fn customer(&mut self, obj: &Map<String, Value>) -> Option<Customer> {
        let customer = self.required(obj, "", "customer")?;
        let obj = self.object(customer, "customer".into())?;
        let id = self.required_string(obj, "customer", "id");
        let name = self.required_string(obj, "customer", "name");
        let email = self.optional_string(obj, "customer", "email");
        let address = self.optional_address(obj, "customer.address");
        Some(Customer {
            id: id?,
            name: name?,
            email: email?,
            address: address?,
        })
    }

    /// The optional `address` of `obj`, whose path is `at` (`customer.address`).
    pub(super) fn optional_address(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
    ) -> Option<Option<Address>> {
        let Some(v) = optional(obj, "address") else {
            return Some(None);
        };
        let obj = self.object(v, at.into())?;
        let line1 = self.required_string(obj, at, "line1");
        let line2 = self.optional_string(obj, at, "line2");
        let city = self.optional_string(obj, at, "city");
        let region = self.optional_string(obj, at, "region");
        let postal_code = self.optional_string(obj, at, "postal_code");
        let country = self.optional_string(obj, at, "country");
        Some(Some(Address {
            line1: line1?,
            line2: line2?,
            city: city?,
            region: region?,
            postal_code: postal_code?,
            country: country?,
        }))
    }

    /// The lines, and the amounts for the sum checks when `lines` is a non-empty array.
    pub(super) fn lines(
        &mut self,
        obj: &Map<String, Value>,
    ) -> (Option<Vec<Line>>, Option<Vec<LineSums>>) {
        let Some(value) = self.required(obj, "", "lines") else {
            return (None, None);
        };
        let Some(items) = self.array(value, "lines".into()) else {
            return (None, None);
        };
        if items.is_empty() {
            self.push("lines", "must contain at least one line");
            return (None, None);
        }
        let mut first_with_id: HashMap<String, usize> = HashMap::new();
        let mut lines = Vec::with_capacity(items.len());
        let mut sums = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            lines.push(self.line(i, item, &mut first_with_id, &mut sums));
        }
        (lines.into_iter().collect(), Some(sums))
    }

    /// One line; its amounts are recorded in `sums` whatever else is wrong with it.
    fn line(
        &mut self,
        i: usize,
        v: &Value,
        first_with_id: &mut HashMap<String, usize>,
        sums: &mut Vec<LineSums>,
    ) -> Option<Line> {
        let at = format!("lines[{i}]");
        let Some(obj) = self.object(v, at.as_str().into()) else {
            sums.push(LineSums {
                amount: None,
                tax: None,
            });
            return None;
        };
        let id = self.required_string(obj, &at, "id");
        if let Some(id) = &id {
            self.unique(first_with_id, "lines", i, &at, "id", id);
        }
        let line_type = self.code(obj, &at, "type", &LineType::ALL, LineType::as_str);
        let description = match optional(obj, "description") {
            None => Some(String::new()),
            Some(v) => self.string_maybe_empty(v, Field::new(&at, "description")),
        };
        let product_id = self.optional_string(obj, &at, "product_id");
        let quantity = self.optional_amount(obj, &at, "quantity");
        let unit_price = self.optional_amount(obj, &at, "unit_price");
        let amount = self.required_amount(obj, &at, "amount");
        let tax_amount = self.optional_amount(obj, &at, "tax_amount");
        let tax_code = self.optional_string(obj, &at, "tax_code");
        sums.push(LineSums {
            amount,
            tax: tax_amount,
        });

        Some(Line {
            id: id?,
            line_type: line_type?,
            description: description?,
            product_id: product_id?,
            quantity: quantity?,
            unit_price: unit_price?,
            amount: amount?,
            tax_amount: tax_amount?,
            tax_code: tax_code?,
        })
    }

    /// Lines add up to the subtotal, and their tax amounts (if any) to the tax total.
    pub(super) fn line_sums(
        &mut self,
        sums: &[LineSums],
        subtotal: Option<Decimal>,
        tax_total: Option<Decimal>,
    ) {
        let amounts: Option<Vec<Decimal>> = sums.iter().map(|s| s.amount).collect();
        if let (Some(amounts), Some(subtotal)) = (amounts, subtotal) {
            match checked_sum(amounts) {
                Some(sum) if sum == subtotal => {}
                Some(sum) => self.push(
                    "subtotal",
                    format!("lines sum to {sum} but subtotal is {subtotal}"),
                ),
                None => self.push("lines", "amounts add up to more than an amount can hold"),
            }
        }

        let taxes: Option<Vec<Option<Decimal>>> = sums.iter().map(|s| s.tax).collect();
        if let (Some(taxes), Some(tax_total)) = (taxes, tax_total)
            && taxes.iter().any(Option::is_some)
        {
            match checked_sum(taxes.into_iter().flatten()) {
                Some(sum) if sum == tax_total => {}
                Some(sum) => self.push(
                    "tax_total",
                    format!("lines' tax_amount sum to {sum} but tax_total is {tax_total}"),
                ),
                None => self.push(
                    "lines",
                    "tax amounts add up to more than an amount can hold",
                ),
            }
        }
    }

    /// `subtotal + tax_total = total`, when all three parsed.
    pub(super) fn total_adds_up(
        &mut self,
        subtotal: Option<Decimal>,
        tax_total: Option<Decimal>,
        total: Option<Decimal>,
    ) {
        if let (Some(subtotal), Some(tax_total), Some(total)) = (subtotal, tax_total, total) {
            match subtotal.checked_add(tax_total) {
                Some(sum) if sum == total => {}
                Some(sum) => self.push(
                    "total",
                    format!("subtotal + tax_total is {sum} but total is {total}"),
                ),
                None => self.push("total", "subtotal + tax_total is too large to be an amount"),
            }
        }
    }

    /// The [`Billing`] part of an invoice or a credit note.
    pub(super) fn billing(&mut self, obj: &Map<String, Value>) -> Billing {
        let customer = self.customer(obj);
        let (lines, sums) = self.lines(obj);
        Billing {
            customer,
            lines,
            sums,
            subtotal: self.required_amount(obj, "", "subtotal"),
            tax_total: self.required_amount(obj, "", "tax_total"),
            total: self.required_amount(obj, "", "total"),
            metadata: self.metadata(obj),
        }
    }

    /// The invoice's sums hold: `subtotal`, `tax_total` and `total` fit the currency, the
    /// lines add up ([`Checker::line_sums`]) and so does the total.
    pub(super) fn billing_adds_up(&mut self, billing: &Billing, currency: Option<&Currency>) {
        let totals = [
            ("subtotal", billing.subtotal),
            ("tax_total", billing.tax_total),
            ("total", billing.total),
        ];
        for (field, amount) in totals {
            self.fits_currency(field, amount, currency);
        }
        if let Some(sums) = &billing.sums {
            self.line_sums(sums, billing.subtotal, billing.tax_total);
        }
        self.total_adds_up(billing.subtotal, billing.tax_total, billing.total);
    }

    /// The optional `metadata` object (`{}` when absent).
    pub(super) fn metadata(&mut self, obj: &Map<String, Value>) -> Option<Map<String, Value>> {
        match optional(obj, "metadata") {
            None => Some(Map::new()),
            Some(v) => self.object(v, "metadata".into()).cloned(),
        }
    }
}
