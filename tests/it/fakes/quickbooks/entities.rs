//! The entities of a company in QBO's JSON shapes (CompanyInfo, Preferences, Item, Account,
//! TaxCode, TaxRate, CompanyCurrency) and their reads by id.

use serde_json::{Value, json};

use super::super::harness::numbers::{money, plain};

use super::answers::{Answer, object_not_found};
use super::currencies::{currency_name, currency_ref};
use super::state::{Account, Company, Currency, Item, TaxCode, TaxRate};

/// `MetaData` times of the entities every company starts with.
const SEEDED_TIME: &str = "2024-01-01T00:00:00-07:00";

/// The CompanyInfo entity. `Country` is the company's country code (`US`, `GB`, `CA`,
/// `AU`, ...), also on its addresses [I: the fake's addresses carry nothing else].
pub(super) fn company_info_entity(company: &Company, realm: &str) -> Value {
    let address = json!({ "Id": "1", "Country": company.country });
    json!({
        "CompanyName": company.name, "LegalName": company.name, "Id": realm,
        "SyncToken": "0", "Country": company.country, "SupportedLanguages": "en",
        "CompanyAddr": address, "LegalAddr": address,
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// The Preferences entity (`GET preferences`, `select * from Preferences`), in QBO's JSON
/// shape (Intuit's Preferences reference and sample; `CurrencyPrefs.HomeCurrency` is a
/// reference, `{"value": "USD"}`). Only the preferences that matter to erp-sync are set.
///
/// `TaxPrefs`: `UsingSalesTax` is true: sales tax is set up, so `TxnTaxDetail` is stored
/// (Intuit: "If sales tax is disabled (Preferences.TaxPrefs.UsingSalesTax is set to false)
/// then TxnTaxDetail is ignored and not stored"). `PartnerTaxEnabled` (automated sales tax)
/// is true for US companies, as for every US company created after November 10, 2017
/// (Intuit, "Manage sales tax for US locales"; sandboxes do not have it), false elsewhere [I].
/// `SalesFormsPrefs.CustomTxnNumbers` is true: the fake keeps the `DocNumber` it is sent.
pub(super) fn preferences_entity(company: &Company) -> Value {
    json!({
        "Id": "1", "SyncToken": "0", "domain": "QBO", "sparse": false,
        "AccountingInfoPrefs": {
            "TrackDepartments": false, "ClassTrackingPerTxn": false,
            "ClassTrackingPerTxnLine": false, "CustomerTerminology": "Customers",
            "FirstMonthOfFiscalYear": "January",
        },
        "ProductAndServicesPrefs": {
            "ForSales": true, "ForPurchase": true, "QuantityWithPriceAndRate": true,
            "QuantityOnHand": false,
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": true, "AllowDeposit": false, "AllowDiscount": true,
            "AllowEstimates": true, "AllowServiceDate": false, "AllowShipping": false,
            "AutoApplyCredit": true, "AutoApplyPayments": true, "UsingPriceLevels": false,
        },
        "TaxPrefs": { "UsingSalesTax": true, "PartnerTaxEnabled": company.is_us() },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": company.multicurrency,
            "HomeCurrency": { "value": company.home_currency },
        },
        "OtherPrefs": { "NameValue": [
            { "Name": "SalesFormsPrefs.DefaultItem", "Value": "1" },
        ] },
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

pub(super) fn read_customer(company: &Company, id: &str) -> Answer {
    match company.customer_index(id) {
        Some(i) => Answer::entity("Customer", &company.customers[i]),
        None => object_not_found("Customer", id),
    }
}

pub(super) fn read_item(company: &Company, id: &str) -> Answer {
    match company.items.iter().find(|i| i.id == id) {
        Some(item) => Answer::entity("Item", &item_entity(company, item)),
        None => object_not_found("Item", id),
    }
}

/// `GET account/{id}`, `taxcode/{id}`, `taxrate/{id}`, `companycurrency/{id}`: the entity
/// whatever its `Active`, else 610.
pub(super) fn read_list_entity(company: &Company, realm: &str, kind: &str, id: &str) -> Answer {
    let entity = match kind {
        "account" => "Account",
        "taxcode" => "TaxCode",
        "taxrate" => "TaxRate",
        _ => "CompanyCurrency",
    };
    let found = entities(company, realm, entity)
        .into_iter()
        .find(|e| e["Id"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(id)));
    match found {
        Some(found) => Answer::entity(entity, &found),
        None => object_not_found(entity, id),
    }
}

pub(super) fn read_invoice(company: &Company, id: &str) -> Answer {
    match company.invoices.iter().find(|i| i.entity["Id"] == id) {
        Some(invoice) => Answer::entity("Invoice", &invoice.entity),
        None => object_not_found("Invoice", id),
    }
}

/// An Item: every item of the fake is a `Service` with an income account.
fn item_entity(company: &Company, item: &Item) -> Value {
    let account = company
        .account(&item.income_account)
        .expect("an item's income account exists");
    json!({
        "Id": item.id, "SyncToken": "0", "Name": item.name, "FullyQualifiedName": item.name,
        "Active": item.active, "Type": "Service", "Taxable": false, "UnitPrice": 0,
        "TrackQtyOnHand": false,
        "IncomeAccountRef": { "value": account.id, "name": account.name },
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// An Account, in the shape of QBO's answers (`Classification`, `CurrentBalance`,
/// `CurrencyRef` in the home currency, `AcctNum` when the account has a number).
fn account_entity(company: &Company, account: &Account) -> Value {
    json!({
        "Id": account.id, "SyncToken": "0", "Name": account.name, "SubAccount": false,
        "FullyQualifiedName": account.name, "Active": true,
        "Classification": account.classification, "AccountType": account.account_type,
        "AccountSubType": account.sub_type, "AcctNum": account.acct_num,
        "CurrentBalance": money(company.account_balance(account.id)),
        "CurrentBalanceWithSubAccounts": money(company.account_balance(account.id)),
        "CurrencyRef": currency_ref(&company.home_currency),
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// A TaxCode of the global tax model, as in Intuit's TaxCode reference: `TaxGroup` and
/// `Taxable` true ("Always true, except for the pseudo taxcode NON"), the rate in
/// `SalesTaxRateList.TaxRateDetail[].TaxRateRef`, no purchase rates.
fn tax_code_entity(company: &Company, code: &TaxCode) -> Value {
    let Some(rate) = company.tax_rate(&code.rate_id) else {
        panic!("tax code {} has no rate {}", code.id, code.rate_id);
    };
    json!({
        "Id": code.id, "SyncToken": "0", "Name": code.name, "Description": code.name,
        "Active": code.active, "Hidden": false, "Taxable": true, "TaxGroup": true,
        "SalesTaxRateList": { "TaxRateDetail": [{
            "TaxRateRef": { "value": rate.id, "name": rate.name },
            "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0,
        }] },
        "PurchaseTaxRateList": { "TaxRateDetail": [] },
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// The US pseudo tax codes, as Intuit's sample answers `select * From TaxCode` for a US
/// company (no `SyncToken`, `Active` or rate lists).
fn pseudo_tax_codes() -> [Value; 2] {
    let meta = json!({ "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME });
    [
        json!({ "Id": "TAX", "Name": "TAX", "Description": "TAX", "Taxable": true,
                "TaxGroup": false, "MetaData": meta }),
        json!({ "Id": "NON", "Name": "NON", "Description": "NON", "Taxable": false,
                "TaxGroup": false, "MetaData": meta }),
    ]
}

/// A TaxRate, as in Intuit's TaxRate reference (`RateValue` in percent).
fn tax_rate_entity(rate: &TaxRate) -> Value {
    json!({
        "Id": rate.id, "SyncToken": "0", "Name": rate.name, "Description": "Sales Tax",
        "Active": rate.active, "RateValue": plain(rate.rate), "AgencyRef": { "value": "1" },
        "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": SEEDED_TIME, "LastUpdatedTime": SEEDED_TIME },
    })
}

/// A CompanyCurrency, as in Intuit's CompanyCurrency reference.
fn company_currency_entity(currency: &Currency) -> Value {
    json!({
        "Id": currency.id, "SyncToken": "0", "Code": currency.code,
        "Name": currency_name(&currency.code), "Active": currency.active,
        "domain": "QBO", "sparse": false,
        "MetaData": { "CreateTime": currency.created, "LastUpdatedTime": currency.created },
    })
}

/// Every entity of a kind the company holds, active or not, in QBO's shape.
pub(super) fn entities(company: &Company, realm: &str, entity: &str) -> Vec<Value> {
    match entity {
        "Customer" => company.customers.clone(),
        "Item" => company
            .items
            .iter()
            .map(|i| item_entity(company, i))
            .collect(),
        "Invoice" => company.invoices.iter().map(|i| i.entity.clone()).collect(),
        "Account" => company
            .accounts
            .iter()
            .map(|a| account_entity(company, a))
            .collect(),
        "TaxCode" => {
            let mut codes = if company.is_us() {
                Vec::from(pseudo_tax_codes())
            } else {
                Vec::new()
            };
            codes.extend(
                company
                    .tax_codes
                    .iter()
                    .map(|c| tax_code_entity(company, c)),
            );
            codes
        }
        "TaxRate" => company.tax_rates.iter().map(tax_rate_entity).collect(),
        // Intuit: a CompanyCurrency is "Applicable only for those companies that enable
        // multicurrency". [I] Without it, the list is empty (no error).
        "CompanyCurrency" if company.multicurrency => company
            .currencies
            .iter()
            .map(company_currency_entity)
            .collect(),
        "CompanyCurrency" => Vec::new(),
        "Preferences" => vec![preferences_entity(company)],
        _ => vec![company_info_entity(company, realm)],
    }
}
