//! The ledger beyond invoices: Payments (create, full and sparse update, void, delete)
//! and CreditMemos (create, update, delete), and the open balances they move.
//!
//! Sources: Intuit's Payment reference ("The payment can be applied for a particular
//! customer against multiple Invoices and Credit Memos. It can also be created without
//! any Invoice or Credit Memo, by just specifying an amount"; void is "a sparse update
//! operation with include=void ... all amounts and quantities are zeroed and the string,
//! Voided, is injected into Payment.PrivateNote"), its sample of a Payment whose lines
//! link an Invoice and a CreditMemo (`TotalAmt` = invoices − credits), and the CreditMemo
//! reference (create, update, delete; no void). What QBO answers when an amount exceeds
//! what is open is undocumented: the fake refuses with 6000 and its own wording [I].
//!
//! Balances are derived, never kept by hand: after every write, each invoice's and
//! credit memo's `Balance` is its `TotalAmt` less the amounts linked to it by the live
//! (not voided, not deleted) Payments ([`Company::settle`]).

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::money;
use super::super::harness::wire::listed;

use super::answers::{
    Answer, business, invalid_reference, meta_time, object_not_found, required, too_long,
    unsupported_property,
};
use super::fields::{
    amount_field, check_properties, check_sync_token, created, date_field, ref_id, sync_token,
    update_input, updated, write_entity,
};
use super::state::{Company, StoredInvoice};

/// Payment properties QBO accepts; any other is rejected with 2010.
const PAYMENT_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData CustomerRef TotalAmt TxnDate Line \
    DepositToAccountRef PaymentMethodRef PaymentRefNum PrivateNote CurrencyRef ExchangeRate \
    UnappliedAmt ProcessPayment TxnSource ARAccountRef CreditCardPayment \
    TransactionLocationType TaxExemptionRef ProjectRef";

/// Payment properties the fake computes (ignored on input).
const PAYMENT_COMPUTED: &str = "Id SyncToken sparse domain MetaData UnappliedAmt";

const PAYMENT_LINE_FIELDS: &str = "Id Amount LinkedTxn LineEx";

/// [I] The length of `PaymentRefNum` (undocumented; that of the other reference numbers).
const MAX_REF_NUM: usize = 21;

/// The account payments land in when none is named (Intuit: Undeposited Funds).
const UNDEPOSITED_FUNDS: &str = "4";

/// CreditMemo properties QBO accepts: an invoice's, less its due date and payment
/// options [I: the CreditMemo reference lists no DueDate or Allow* fields].
const CREDIT_MEMO_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData CustomerRef DocNumber TxnDate Line TxnTaxDetail \
    PrivateNote CustomerMemo EmailStatus PrintStatus BillEmail BillAddr ShipAddr \
    SalesTermRef CurrencyRef ExchangeRate CustomField ClassRef DepartmentRef \
    GlobalTaxCalculation ApplyTaxAfterDiscount TotalAmt Balance RemainingCredit \
    HomeTotalAmt ProjectRef TransactionLocationType";

/// A stored Payment.
pub(super) struct StoredPayment {
    pub(super) entity: Value,
    pub(super) voided: bool,
}

/// What one Payment links: (kind, id) → amount.
type Links = HashMap<(String, String), Decimal>;

fn links_of(entity: &Value) -> Links {
    let mut links = Links::new();
    for line in entity["Line"].as_array().into_iter().flatten() {
        let amount = super::super::harness::numbers::decimal(&line["Amount"]).unwrap_or_default();
        for linked in line["LinkedTxn"].as_array().into_iter().flatten() {
            let kind = linked["TxnType"].as_str().unwrap_or_default().to_string();
            let id = linked["TxnId"].as_str().unwrap_or_default().to_string();
            *links.entry((kind, id)).or_default() += amount;
        }
    }
    links
}

/// `POST payment`: create, or update when `Id` is given (full, or `sparse: true`).
pub(super) fn write_payment(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let (create, update) = (Company::create_payment, Company::update_payment);
    write_entity(company, body, ("Payment", PAYMENT_FIELDS), create, update)
}

/// `POST payment?operation=update&include=void`: zeroes the amounts (the invoices get
/// their balance back), prefixes `PrivateNote` with "Voided", bumps `SyncToken`.
pub(super) fn void_payment(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let Some(id) = body.get("Id").and_then(Value::as_str) else {
        return required("Id");
    };
    let Some(payment) = company.payments.iter_mut().find(|p| p.entity["Id"] == id) else {
        return object_not_found("Payment", id);
    };
    if let Err(refusal) = check_sync_token(&payment.entity, body) {
        return refusal;
    }
    if payment.voided {
        return business("This transaction is already void.");
    }
    payment.voided = true;
    let entity = &mut payment.entity;
    for line in entity["Line"].as_array_mut().into_iter().flatten() {
        line["Amount"] = money(Decimal::ZERO);
    }
    entity["TotalAmt"] = money(Decimal::ZERO);
    entity["UnappliedAmt"] = money(Decimal::ZERO);
    let note = match entity["PrivateNote"].as_str() {
        Some(note) if !note.is_empty() => format!("Voided - {note}"),
        _ => "Voided".to_string(),
    };
    entity["PrivateNote"] = json!(note);
    entity["SyncToken"] = json!((sync_token(entity) + 1).to_string());
    entity["MetaData"]["LastUpdatedTime"] = json!(meta_time());
    let answer = Answer::entity("Payment", entity);
    company.settle();
    answer
}

/// `POST payment?operation=delete` with `{"Id","SyncToken"}`: the Payment is gone.
pub(super) fn delete_payment(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let Some(id) = body.get("Id").and_then(Value::as_str) else {
        return required("Id");
    };
    let Some(index) = company.payments.iter().position(|p| p.entity["Id"] == id) else {
        return object_not_found("Payment", id);
    };
    if let Err(refusal) = check_sync_token(&company.payments[index].entity, body) {
        return refusal;
    }
    company.payments.remove(index);
    company.settle();
    deleted("Payment", id)
}

/// `POST creditmemo`: create, or update when `Id` is given.
pub(super) fn write_credit_memo(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let (create, update) = (Company::create_credit_memo, Company::update_credit_memo);
    write_entity(
        company,
        body,
        ("CreditMemo", CREDIT_MEMO_FIELDS),
        create,
        update,
    )
}

/// `POST creditmemo?operation=delete`. [I] A credit memo a live Payment still applies is
/// refused: the application must be removed first.
pub(super) fn delete_credit_memo(company: &mut Company, body: &Map<String, Value>) -> Answer {
    let Some(id) = body.get("Id").and_then(Value::as_str) else {
        return required("Id");
    };
    let Some(index) = company
        .credit_memos
        .iter()
        .position(|m| m.entity["Id"] == id)
    else {
        return object_not_found("CreditMemo", id);
    };
    if let Err(refusal) = check_sync_token(&company.credit_memos[index].entity, body) {
        return refusal;
    }
    if company.linked_amount("CreditMemo", id, None) > Decimal::ZERO {
        return business(
            "This credit memo is applied to an invoice. Remove the payment that applies it first.",
        );
    }
    company.credit_memos.remove(index);
    company.settle();
    deleted("CreditMemo", id)
}

pub(super) fn read_payment(company: &Company, id: &str) -> Answer {
    match company.payments.iter().find(|p| p.entity["Id"] == id) {
        Some(p) => Answer::entity("Payment", &p.entity),
        None => object_not_found("Payment", id),
    }
}

pub(super) fn read_credit_memo(company: &Company, id: &str) -> Answer {
    match company.credit_memos.iter().find(|m| m.entity["Id"] == id) {
        Some(m) => Answer::entity("CreditMemo", &m.entity),
        None => object_not_found("CreditMemo", id),
    }
}

/// Intuit's answer to a delete: the entity's `Id` with `status: Deleted`.
fn deleted(class: &str, id: &str) -> Answer {
    Answer::entity(
        class,
        &json!({ "Id": id, "status": "Deleted", "domain": "QBO" }),
    )
}

impl Company {
    /// The amount the live Payments (all but `except`) link to a transaction.
    pub(super) fn linked_amount(&self, kind: &str, id: &str, except: Option<&str>) -> Decimal {
        self.payments
            .iter()
            .filter(|p| !p.voided && except.is_none_or(|e| p.entity["Id"] != e))
            .filter_map(|p| {
                links_of(&p.entity)
                    .get(&(kind.to_string(), id.to_string()))
                    .copied()
            })
            .sum()
    }

    /// Sets every invoice's and credit memo's `Balance` from the live Payments.
    pub(super) fn settle(&mut self) {
        let mut linked = Links::new();
        for payment in self.payments.iter().filter(|p| !p.voided) {
            for (key, amount) in links_of(&payment.entity) {
                *linked.entry(key).or_default() += amount;
            }
        }
        let balance = |stored: &mut StoredInvoice, kind: &str| {
            let id = stored.entity["Id"].as_str().unwrap_or_default().to_string();
            let total = super::super::harness::numbers::decimal(&stored.entity["TotalAmt"])
                .unwrap_or_default();
            let open = if stored.voided {
                Decimal::ZERO
            } else {
                total
                    - linked
                        .get(&(kind.to_string(), id))
                        .copied()
                        .unwrap_or_default()
            };
            stored.entity["Balance"] = money(open);
            if kind == "CreditMemo" {
                stored.entity["RemainingCredit"] = money(open);
            }
        };
        for invoice in &mut self.invoices {
            balance(invoice, "Invoice");
        }
        for memo in &mut self.credit_memos {
            balance(memo, "CreditMemo");
        }
    }

    fn create_payment(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let entity = self.payment_fields(body, None)?;
        let entity = created(entity, self.next_payment_id.to_string());
        self.next_payment_id += 1;
        self.payments.push(StoredPayment {
            entity: entity.clone(),
            voided: false,
        });
        self.settle();
        Ok(entity)
    }

    fn update_payment(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let Some(index) = self.payments.iter().position(|p| p.entity["Id"] == id) else {
            return Err(object_not_found("Payment", id));
        };
        let current = self.payments[index].entity.clone();
        check_sync_token(&current, body)?;
        if self.payments[index].voided {
            return Err(business(
                "You cannot modify a transaction that has been voided.",
            ));
        }
        let input = update_input(&current, body, PAYMENT_COMPUTED);
        let entity = self.payment_fields(&input, Some(id))?;
        let entity = updated(entity, id, &current);
        self.payments[index].entity = entity.clone();
        self.settle();
        Ok(entity)
    }

    /// Validates a Payment (`own` is the Payment being updated) and computes
    /// `UnappliedAmt`: the customer must exist, every linked Invoice or CreditMemo must
    /// exist, be the customer's and not be void, no line may take more than is open on
    /// what it links, and the invoices less the credits may not exceed `TotalAmt`.
    fn payment_fields(
        &self,
        input: &Map<String, Value>,
        own: Option<&str>,
    ) -> Result<Map<String, Value>, Answer> {
        let customer_id =
            ref_id(input.get("CustomerRef")).ok_or_else(|| required("CustomerRef"))?;
        let customer = self
            .customers
            .iter()
            .find(|c| c["Id"] == customer_id && c["Active"] != false)
            .ok_or_else(|| invalid_reference("CustomerRef", "Customer", &customer_id))?;
        let total = amount_field(input, "TotalAmt")?.ok_or_else(|| required("TotalAmt"))?;
        if total < Decimal::ZERO {
            return Err(business("The payment amount can not be negative."));
        }
        let txn_date = date_field(input, "TxnDate")?.unwrap_or_else(super::answers::today);
        if let Some(account) = ref_id(input.get("DepositToAccountRef"))
            && self.account(&account).is_none()
        {
            return Err(invalid_reference(
                "DepositToAccountRef",
                "Account",
                &account,
            ));
        }
        if let Some(reference) = input.get("PaymentRefNum").and_then(Value::as_str) {
            let len = reference.chars().count();
            if len > MAX_REF_NUM {
                return Err(too_long("PaymentRefNum", MAX_REF_NUM, len));
            }
        }
        let (currency, _) = self.invoice_currency(input, customer)?;
        let mut lines = Vec::new();
        let (mut charged, mut credited) = (Decimal::ZERO, Decimal::ZERO);
        for line in input
            .get("Line")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let line = line
                .as_object()
                .ok_or_else(|| unsupported_property("Line", "not an object"))?;
            check_properties(line, PAYMENT_LINE_FIELDS, "Line")?;
            let amount =
                amount_field(line, "Line.Amount")?.ok_or_else(|| required("Line.Amount"))?;
            if amount < Decimal::ZERO {
                return Err(business("The amount applied can not be negative."));
            }
            let linked = line
                .get("LinkedTxn")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| required("Line.LinkedTxn"))?;
            for txn in linked {
                let kind = txn["TxnType"].as_str().unwrap_or_default();
                let id = txn["TxnId"].as_str().unwrap_or_default();
                let stored = match kind {
                    "Invoice" => self.invoices.iter().find(|i| i.entity["Id"] == id),
                    "CreditMemo" => self.credit_memos.iter().find(|m| m.entity["Id"] == id),
                    other => {
                        return Err(unsupported_property(
                            "Line.LinkedTxn.TxnType",
                            &format!("{other} is not supported by the fake"),
                        ));
                    }
                };
                let stored = stored.ok_or_else(|| invalid_reference("Line.LinkedTxn", kind, id))?;
                if stored.voided {
                    return Err(business(&format!(
                        "The {kind} {id} is void; a payment cannot be applied to it."
                    )));
                }
                if stored.entity["CustomerRef"]["value"] != customer_id.as_str() {
                    return Err(business(&format!(
                        "The {kind} {id} belongs to another customer."
                    )));
                }
                let total = super::super::harness::numbers::decimal(&stored.entity["TotalAmt"])
                    .unwrap_or_default();
                let open = total - self.linked_amount(kind, id, own);
                if amount > open {
                    let number = stored.entity["DocNumber"].as_str().unwrap_or(id);
                    return Err(business(&format!(
                        "The amount applied to {kind} {number} ({amount}) is more than its open balance ({open})."
                    )));
                }
                match kind {
                    "Invoice" => charged += amount,
                    _ => credited += amount,
                }
            }
            let mut stored = line.clone();
            stored.insert("Amount".into(), money(amount));
            lines.push(Value::Object(stored));
        }
        if credited > charged {
            return Err(business(
                "The credits applied are more than the charges they are applied to.",
            ));
        }
        let applied = charged - credited;
        if applied > total {
            return Err(business(&format!(
                "The amounts applied ({applied}) are more than the amount received ({total})."
            )));
        }
        let mut entity: Map<String, Value> = input
            .iter()
            .filter(|(k, _)| !listed(PAYMENT_COMPUTED, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entity.insert(
            "CustomerRef".into(),
            json!({ "value": customer_id, "name": customer["DisplayName"] }),
        );
        entity.insert("TxnDate".into(), json!(txn_date));
        entity.insert("TotalAmt".into(), money(total));
        entity.insert("UnappliedAmt".into(), money(total - applied));
        entity.insert("Line".into(), Value::Array(lines));
        entity.insert(
            "CurrencyRef".into(),
            super::currencies::currency_ref(&currency),
        );
        entity
            .entry("DepositToAccountRef")
            .or_insert(json!({ "value": UNDEPOSITED_FUNDS }));
        entity.insert("ProcessPayment".into(), json!(false));
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok(entity)
    }

    fn create_credit_memo(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let mut entity = self.invoice_fields(body, &[])?;
        entity.remove("DueDate");
        let entity = created(entity, self.next_credit_memo_id.to_string());
        self.next_credit_memo_id += 1;
        self.credit_memos.push(StoredInvoice {
            entity: entity.clone(),
            voided: false,
        });
        self.settle();
        Ok(self
            .credit_memos
            .last()
            .expect("just pushed")
            .entity
            .clone())
    }

    fn update_credit_memo(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let Some(index) = self.credit_memos.iter().position(|m| m.entity["Id"] == id) else {
            return Err(object_not_found("CreditMemo", id));
        };
        let current = self.credit_memos[index].entity.clone();
        check_sync_token(&current, body)?;
        let input = update_input(
            &current,
            body,
            "Id SyncToken sparse domain MetaData TotalAmt Balance RemainingCredit HomeTotalAmt",
        );
        let previous_lines = current["Line"].as_array().cloned().unwrap_or_default();
        let mut entity = self.invoice_fields(&input, &previous_lines)?;
        entity.remove("DueDate");
        let total =
            super::super::harness::numbers::decimal(&entity["TotalAmt"]).unwrap_or_default();
        let applied = self.linked_amount("CreditMemo", id, None);
        if applied > total {
            return Err(business(&format!(
                "[I] {applied} of this credit memo is applied; its total cannot go below that ({total})."
            )));
        }
        let entity = updated(entity, id, &current);
        self.credit_memos[index].entity = entity;
        self.settle();
        Ok(self.credit_memos[index].entity.clone())
    }
}
