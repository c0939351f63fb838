//! The ledger beyond invoices: Payments (create, full and sparse update, void, delete)
//! and CreditMemos (create, update, delete), and the open balances they move.
//!
//! Sources: Intuit's Payment reference ("The payment can be applied for a particular
//! customer against multiple Invoices and Credit Memos. It can also be created without
//! any Invoice or Credit Memo, by just specifying an amount"; void is "a sparse update
//! operation with include=void ... all amounts and quantities are zeroed and the string,
//! Voided, is injected into Payment.PrivateNote"), its sample of a Payment whose lines
//! link an Invoice and a CreditMemo (`TotalAmt` = invoices − credits), and the CreditMemo
//! reference (create, update, delete; no void). A Payment line may also link a cheque
//! (`Check`) or cash expense (`Expense`) paid to the customer, which counts as a charge:
//! that is how a credit memo's credit is paid out (`purchases`). What QBO answers when an amount exceeds
//! what is open is undocumented: the fake refuses with 6000 and its own wording [I].
//!
//! Balances are derived, never kept by hand: after every write, each invoice's and
//! credit memo's `Balance` is its `TotalAmt` less the amounts linked to it by the live
//! (not voided, not deleted) Payments ([`Company::settle`]).

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::money;

use super::answers::{
    Answer, business, invalid_reference, required, too_long, unsupported_property,
};
use super::fields::{
    Body, Handled, amount_field, check_properties, created, date_field, mark_voided, named,
    read_stored, ref_id, updated, updating, voiding, writable, write_entity,
};
use super::state::{Company, Stored};

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
pub(super) fn write_payment(company: &mut Company, body: &Body) -> Answer {
    let (create, update) = (Company::create_payment, Company::update_payment);
    write_entity(company, body, ("Payment", PAYMENT_FIELDS), create, update)
}

/// `POST payment?operation=update&include=void`: zeroes the amounts (the invoices get
/// their balance back), prefixes `PrivateNote` with "Voided", bumps `SyncToken`.
pub(super) fn void_payment(company: &mut Company, body: &Body) -> Handled {
    let entity = voiding(&mut company.payments, "Payment", body)?;
    for line in entity["Line"].as_array_mut().into_iter().flatten() {
        line["Amount"] = money(Decimal::ZERO);
    }
    entity["TotalAmt"] = money(Decimal::ZERO);
    entity["UnappliedAmt"] = money(Decimal::ZERO);
    mark_voided(entity);
    let answer = Answer::entity("Payment", entity);
    company.settle();
    Ok(answer)
}

/// `POST payment?operation=delete` with `{"Id","SyncToken"}`: the Payment is gone.
pub(super) fn delete_payment(company: &mut Company, body: &Body) -> Handled {
    let (index, id) = named(&company.payments, "Payment", body)?;
    company.payments.remove(index);
    company.settle();
    Ok(deleted("Payment", id))
}

/// `POST creditmemo`: create, or update when `Id` is given.
pub(super) fn write_credit_memo(company: &mut Company, body: &Body) -> Answer {
    let (create, update) = (Company::create_credit_memo, Company::update_credit_memo);
    let class = ("CreditMemo", CREDIT_MEMO_FIELDS);
    write_entity(company, body, class, create, update)
}

/// `POST creditmemo?operation=delete`. [I] A credit memo a live Payment still applies is
/// refused: the application must be removed first.
pub(super) fn delete_credit_memo(company: &mut Company, body: &Body) -> Handled {
    let (index, id) = named(&company.credit_memos, "CreditMemo", body)?;
    if company.linked_amount("CreditMemo", id, None) > Decimal::ZERO {
        return Err(business(
            "This credit memo is applied to an invoice. Remove the payment that applies it first.",
        ));
    }
    company.credit_memos.remove(index);
    company.settle();
    Ok(deleted("CreditMemo", id))
}

pub(super) fn read_payment(company: &Company, id: &str) -> Answer {
    read_stored(&company.payments, "Payment", id)
}

pub(super) fn read_credit_memo(company: &Company, id: &str) -> Answer {
    read_stored(&company.credit_memos, "CreditMemo", id)
}

/// Intuit's answer to a delete: the entity's `Id` with `status: Deleted`.
pub(super) fn deleted(class: &str, id: &str) -> Answer {
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
        let balance = |stored: &mut Stored, kind: &str| {
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
        let entity = created(entity, &mut self.next_payment_id);
        self.payments.push(Stored::new(&entity));
        self.settle();
        Ok(entity)
    }

    fn update_payment(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let class = ("Payment", PAYMENT_COMPUTED);
        let (index, current, input) = updating(&self.payments, class, id, body)?;
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
        let customer = self.active_customer("CustomerRef", &customer_id)?;
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
                // (the transaction, whether it is void, what can be linked to it)
                let (entity, voided, total) = match kind {
                    "Invoice" | "CreditMemo" => {
                        let list = if kind == "Invoice" {
                            &self.invoices
                        } else {
                            &self.credit_memos
                        };
                        let stored = list
                            .iter()
                            .find(|i| i.entity["Id"] == id)
                            .ok_or_else(|| invalid_reference("Line.LinkedTxn", kind, id))?;
                        let total =
                            super::super::harness::numbers::decimal(&stored.entity["TotalAmt"])
                                .unwrap_or_default();
                        (&stored.entity, stored.voided, total)
                    }
                    // A cheque or cash expense paid to the customer: what it charges to
                    // their Accounts Receivable (`purchases`).
                    "Check" | "Expense" => {
                        let entity = self
                            .linkable_purchase(kind, id)
                            .ok_or_else(|| invalid_reference("Line.LinkedTxn", kind, id))?;
                        (entity, false, self.receivable_charge(entity))
                    }
                    other => {
                        return Err(unsupported_property(
                            "Line.LinkedTxn.TxnType",
                            &format!("{other} is not supported by the fake"),
                        ));
                    }
                };
                if voided {
                    return Err(business(&format!(
                        "The {kind} {id} is void; a payment cannot be applied to it."
                    )));
                }
                let owner = match kind {
                    "Check" | "Expense" => &entity["EntityRef"]["value"],
                    _ => &entity["CustomerRef"]["value"],
                };
                if owner != customer_id.as_str() {
                    return Err(business(&format!(
                        "The {kind} {id} belongs to another customer."
                    )));
                }
                let open = total - self.linked_amount(kind, id, own);
                if amount > open {
                    let number = entity["DocNumber"].as_str().unwrap_or(id);
                    return Err(business(&format!(
                        "The amount applied to {kind} {number} ({amount}) is more than its open balance ({open})."
                    )));
                }
                match kind {
                    "Invoice" | "Check" | "Expense" => charged += amount,
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
        let mut entity = writable(input, PAYMENT_COMPUTED);
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
        let entity = created(entity, &mut self.next_credit_memo_id);
        self.credit_memos.push(Stored::new(&entity));
        self.settle();
        Ok(self
            .credit_memos
            .last()
            .expect("just pushed")
            .entity
            .clone())
    }

    fn update_credit_memo(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let computed =
            "Id SyncToken sparse domain MetaData TotalAmt Balance RemainingCredit HomeTotalAmt";
        let (index, current, input) =
            updating(&self.credit_memos, ("CreditMemo", computed), id, body)?;
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
