//! Purchases (expenses, cheques): create, update, delete and read, as erp-sync pays a
//! refund out of a credit memo: a cheque to the customer whose line charges their
//! Accounts Receivable, settled with the credit memo by a zero-amount Payment
//! (`ledger`: a Payment line may link `TxnType` `Check` or `Expense`).
//!
//! Sources: Intuit's Purchase reference ("You must specify an AccountRef for all
//! purchases"; `PaymentType` "Cash, Check, or CreditCard"; `AccountRef`: "A type of Check
//! should have bank account, CreditCard should specify credit card account"; `EntityRef`
//! "Can be Customer, Vendor, or Employee"; `TotalAmt` read-only, "must add up to sum of
//! `Line.Amount`"; delete with `Id` + `SyncToken`, answered `{"status":"Deleted"}`; no
//! void: integrators report `operation=void` refused) and the Payment reference (`Check`:
//! "Payment is reimbursement for expense paid by check made on behalf of the customer";
//! `Expense`: "... paid by cash"). [S] QBO's "When you use Accounts Receivable, you must
//! choose a customer in the Name field" for an A/R line without a customer payee.
//!
//! What the fake keeps: the purchases, and from them each account's `CurrentBalance`
//! ([`Company::account_balance`]); what a purchase charges to A/R is what Payments may
//! link to it ([`Company::receivable_charge`]).

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::numbers::{decimal, money};

use super::answers::{Answer, business, invalid_reference, required, unsupported_property};
use super::fields::{
    Body, Handled, amount_field, check_properties, created, date_field, named, read_stored, ref_id,
    updated, updating, writable, write_entity,
};
use super::ledger::deleted;
use super::state::{Company, Stored};

/// Purchase properties QBO accepts; any other is rejected with 2010.
const PURCHASE_FIELDS: &str = "\
    Id SyncToken sparse domain MetaData PaymentType AccountRef EntityRef TxnDate Line \
    PrivateNote DocNumber CurrencyRef ExchangeRate PrintStatus RemitToAddr TxnSource \
    GlobalTaxCalculation TransactionLocationType TxnTaxDetail PaymentMethodRef PurchaseEx \
    DepartmentRef Credit TotalAmt IncludeInAnnualTPAR LinkedTxn ProjectRef CustomField";

/// Properties the fake computes (ignored on input).
const PURCHASE_COMPUTED: &str = "Id SyncToken sparse domain MetaData TotalAmt";

const LINE_FIELDS: &str =
    "Id DetailType Amount Description LineNum AccountBasedExpenseLineDetail ProjectRef";

const ACCOUNT_LINE_FIELDS: &str = "\
    AccountRef CustomerRef ClassRef TaxCodeRef TaxAmount TaxInclusiveAmt BillableStatus \
    MarkupInfo";

/// `POST purchase`: create, or update when `Id` is given.
pub(super) fn write_purchase(company: &mut Company, body: &Body) -> Answer {
    let (create, update) = (Company::create_purchase, Company::update_purchase);
    write_entity(company, body, ("Purchase", PURCHASE_FIELDS), create, update)
}

/// `POST purchase?operation=delete`. [I] A purchase a live Payment still links is refused,
/// as a credit memo is: the Payment must go first.
pub(super) fn delete_purchase(company: &mut Company, body: &Body) -> Handled {
    let (index, id) = named(&company.purchases, "Purchase", body)?;
    let kind = txn_type(&company.purchases[index].entity);
    if company.linked_amount(kind, id, None) > Decimal::ZERO {
        return Err(business(
            "This transaction is linked to a payment. Remove the payment that applies it first.",
        ));
    }
    company.purchases.remove(index);
    Ok(deleted("Purchase", id))
}

pub(super) fn read_purchase(company: &Company, id: &str) -> Answer {
    read_stored(&company.purchases, "Purchase", id)
}

/// The `LinkedTxn.TxnType` a Payment names a purchase by: `Check` for a cheque, `Expense`
/// for a cash purchase, [I] `CreditCardCharge` for a card one (not linkable).
pub(super) fn txn_type(entity: &Value) -> &'static str {
    match entity["PaymentType"].as_str() {
        Some("Check") => "Check",
        Some("Cash") => "Expense",
        _ => "CreditCardCharge",
    }
}

impl Company {
    /// The purchase a Payment links as `kind` (`Check` or `Expense`) and `id`.
    pub(super) fn linkable_purchase(&self, kind: &str, id: &str) -> Option<&Value> {
        self.purchases
            .iter()
            .map(|p| &p.entity)
            .find(|e| e["Id"] == id && txn_type(e) == kind)
    }

    /// What a purchase charges to Accounts Receivable: the amounts of its lines on an A/R
    /// account. That much, less what live Payments link to it, is open to be settled.
    pub(super) fn receivable_charge(&self, entity: &Value) -> Decimal {
        entity["Line"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|line| {
                let account = line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"]
                    .as_str()
                    .unwrap_or_default();
                self.account(account)
                    .is_some_and(|a| a.account_type == "Accounts Receivable")
            })
            .filter_map(|line| decimal(&line["Amount"]))
            .sum()
    }

    /// An account's balance from the ledger: the live Payments deposited to it, less the
    /// purchases paid from it, plus the purchase lines charged to it.
    pub(super) fn account_balance(&self, id: &str) -> Decimal {
        let deposits: Decimal = self
            .payments
            .iter()
            .filter(|p| !p.voided && p.entity["DepositToAccountRef"]["value"] == id)
            .filter_map(|p| decimal(&p.entity["TotalAmt"]))
            .sum();
        let paid: Decimal = self
            .purchases
            .iter()
            .filter(|p| p.entity["AccountRef"]["value"] == id)
            .filter_map(|p| decimal(&p.entity["TotalAmt"]))
            .sum();
        let charged: Decimal = self
            .purchases
            .iter()
            .flat_map(|p| p.entity["Line"].as_array().cloned().unwrap_or_default())
            .filter(|l| l["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] == id)
            .filter_map(|l| decimal(&l["Amount"]))
            .sum();
        deposits - paid + charged
    }

    fn create_purchase(&mut self, body: &Map<String, Value>) -> Result<Value, Answer> {
        let entity = self.purchase_fields(body)?;
        let entity = created(entity, &mut self.next_purchase_id);
        self.purchases.push(Stored::new(&entity));
        Ok(entity)
    }

    fn update_purchase(&mut self, id: &str, body: &Map<String, Value>) -> Result<Value, Answer> {
        let class = ("Purchase", PURCHASE_COMPUTED);
        let (index, current, input) = updating(&self.purchases, class, id, body)?;
        let entity = self.purchase_fields(&input)?;
        let linked = self.linked_amount(txn_type(&current), id, None);
        if linked > Decimal::ZERO {
            let kind = txn_type(&Value::Object(entity.clone()));
            let charge = self.receivable_charge(&Value::Object(entity.clone()));
            if kind != txn_type(&current) || charge < linked {
                return Err(business(&format!(
                    "[I] {linked} of this transaction is settled by a payment; it cannot change type or go below that ({charge})."
                )));
            }
        }
        let entity = updated(entity, id, &current);
        self.purchases[index].entity = entity.clone();
        Ok(entity)
    }

    /// Validates a Purchase and computes `TotalAmt`.
    fn purchase_fields(&self, input: &Map<String, Value>) -> Result<Map<String, Value>, Answer> {
        let payment_type = input
            .get("PaymentType")
            .and_then(Value::as_str)
            .ok_or_else(|| required("PaymentType"))?;
        let wanted = match payment_type {
            "Check" => &["Bank"][..],
            "CreditCard" => &["Credit Card"][..],
            // [I] A cash purchase from a bank or other current asset account.
            "Cash" => &["Bank", "Other Current Asset"][..],
            other => {
                return Err(unsupported_property(
                    "PaymentType",
                    &format!("{other} is not one of Cash, Check, CreditCard"),
                ));
            }
        };
        let account_id = ref_id(input.get("AccountRef")).ok_or_else(|| required("AccountRef"))?;
        let account = self
            .account(&account_id)
            .ok_or_else(|| invalid_reference("AccountRef", "Account", &account_id))?;
        if !wanted.contains(&account.account_type) {
            // [I] Code and wording.
            return Err(business(&format!(
                "A {payment_type} purchase must be paid from a {} account; {} is {}.",
                wanted.join(" or "),
                account.name,
                account.account_type
            )));
        }
        let mut customer = None;
        if let Some(entity_ref) = input.get("EntityRef").filter(|v| !v.is_null()) {
            let id = ref_id(Some(entity_ref)).ok_or_else(|| required("EntityRef"))?;
            match entity_ref["type"].as_str() {
                Some("Customer") => {
                    customer = Some(self.active_customer("EntityRef", &id)?);
                }
                other => {
                    return Err(unsupported_property(
                        "EntityRef.type",
                        &format!("{other:?}: the fake knows Customer payees only"),
                    ));
                }
            }
        }
        let txn_date = date_field(input, "TxnDate")?.unwrap_or_else(super::answers::today);
        let lines = input
            .get("Line")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| required("Line"))?;
        let mut total = Decimal::ZERO;
        let mut stored_lines = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            let line = line
                .as_object()
                .ok_or_else(|| unsupported_property("Line", "not an object"))?;
            check_properties(line, LINE_FIELDS, "Line")?;
            if line.get("DetailType").and_then(Value::as_str)
                != Some("AccountBasedExpenseLineDetail")
            {
                return Err(unsupported_property(
                    "Line.DetailType",
                    "the fake takes AccountBasedExpenseLineDetail lines only",
                ));
            }
            let detail = line
                .get("AccountBasedExpenseLineDetail")
                .and_then(Value::as_object)
                .ok_or_else(|| required("Line.AccountBasedExpenseLineDetail"))?;
            check_properties(detail, ACCOUNT_LINE_FIELDS, "AccountBasedExpenseLineDetail")?;
            let amount =
                amount_field(line, "Line.Amount")?.ok_or_else(|| required("Line.Amount"))?;
            if amount < Decimal::ZERO {
                return Err(business("A line amount can not be negative."));
            }
            let line_account = ref_id(detail.get("AccountRef"))
                .ok_or_else(|| required("Line.AccountBasedExpenseLineDetail.AccountRef"))?;
            let line_account = self
                .account(&line_account)
                .ok_or_else(|| invalid_reference("Line.AccountRef", "Account", &line_account))?;
            if line_account.account_type == "Accounts Receivable" && customer.is_none() {
                return Err(business(
                    "When you use Accounts Receivable, you must choose a customer in the Name field.",
                ));
            }
            total += amount;
            let mut stored = line.clone();
            stored.insert("Amount".into(), money(amount));
            stored.insert("Id".into(), json!((n + 1).to_string()));
            stored_lines.push(Value::Object(stored));
        }
        if let Some(sent) = amount_field(input, "TotalAmt")?
            && sent != total
        {
            // [I] Code and wording.
            return Err(business(&format!(
                "The total ({sent}) does not add up to the lines ({total})."
            )));
        }
        let currency = match customer {
            Some(c) => self.invoice_currency(input, c)?.0,
            None => self.home_currency.clone(),
        };
        let mut entity = writable(input, PURCHASE_COMPUTED);
        entity.insert("TxnDate".into(), json!(txn_date));
        entity.insert("TotalAmt".into(), money(total));
        entity.insert("Line".into(), Value::Array(stored_lines));
        entity.insert(
            "AccountRef".into(),
            json!({ "value": account.id, "name": account.name }),
        );
        if let Some(c) = customer {
            entity.insert(
                "EntityRef".into(),
                json!({ "value": c["Id"], "name": c["DisplayName"], "type": "Customer" }),
            );
        }
        entity.insert(
            "CurrencyRef".into(),
            super::currencies::currency_ref(&currency),
        );
        if payment_type == "CreditCard" {
            entity.entry("Credit").or_insert(json!(false));
        }
        entity.insert("domain".into(), json!("QBO"));
        entity.insert("sparse".into(), json!(false));
        Ok(entity)
    }
}
