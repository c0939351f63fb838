//! The organisation and its settings: `GET Organisation`, `Accounts`, `TaxRates` and
//! `Currencies`, from the UK chart of accounts and tax rates every organisation has.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::super::harness::numbers::rounded;
use super::super::harness::wire::{Params, random_string};

use super::answers::{Answer, envelope};
use super::lists::filtered;
use super::state::{Org, OrgData};

/// The chart of accounts usable on sales lines: (code, name, default tax type, AccountID).
pub(super) const ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    (
        "200",
        "Sales",
        "OUTPUT2",
        "5040915e-8ce7-4177-8d08-fde416232f18",
    ),
    (
        "260",
        "Other Revenue",
        "OUTPUT2",
        "e0a8b5a5-6ce3-4a66-b4c5-1fd5a6b3d0a1",
    ),
];

/// Bank accounts, which payments may be made to (and sales lines may not use): (code,
/// name, AccountID).
pub(super) const BANK_ACCOUNTS: &[(&str, &str, &str)] = &[(
    "090",
    "Business Bank Account",
    "7d05a53d-613d-4eb2-a2fc-dcb6adb80b80",
)];

/// UK sales tax rates: (tax type, name, rate in percent, [I] ReportTaxType).
const TAX_RATES: &[(&str, &str, &str, &str)] = &[
    ("OUTPUT2", "20% (VAT on Income)", "20", "OUTPUT"),
    ("RROUTPUT", "5% (VAT on Income)", "5", "OUTPUT"),
    (
        "ZERORATEDOUTPUT",
        "Zero Rated Income",
        "0",
        "ZERORATEDOUTPUT",
    ),
    ("EXEMPTOUTPUT", "Exempt Income", "0", "EXEMPTOUTPUT"),
    ("NONE", "No VAT", "0", "NONE"),
];

/// `Description`s of the currencies an organisation may subscribe to (NZD and USD as in
/// Xero's spec examples, [I] the others); an unlisted code describes itself.
const CURRENCY_NAMES: &[(&str, &str)] = &[
    ("GBP", "British Pound"),
    ("USD", "United States Dollar"),
    ("EUR", "Euro"),
    ("NZD", "New Zealand Dollar"),
    ("AUD", "Australian Dollar"),
    ("CAD", "Canadian Dollar"),
    ("CHF", "Swiss Franc"),
    ("JPY", "Japanese Yen"),
    ("SEK", "Swedish Krona"),
];

/// Every organisation's base currency.
pub(super) const BASE_CURRENCY: &str = "GBP";

/// Fields an account `where` may name.
const ACCOUNT_WHERE_FIELDS: &[&str] = &[
    "AccountID",
    "Code",
    "Name",
    "Type",
    "Status",
    "TaxType",
    "Class",
    "Description",
    "EnablePaymentsToAccount",
    "ShowInExpenseClaims",
];
/// Fields a tax rate `where` may name.
const TAX_RATE_WHERE_FIELDS: &[&str] = &[
    "Name",
    "TaxType",
    "Status",
    "ReportTaxType",
    "CanApplyToAssets",
    "CanApplyToEquity",
    "CanApplyToExpenses",
    "CanApplyToLiabilities",
    "CanApplyToRevenue",
];
/// Fields a currency `where` may name.
const CURRENCY_WHERE_FIELDS: &[&str] = &["Code", "Description"];

/// `GET Organisation`: `{"Organisations":[{...,"BaseCurrency":"GBP"}]}`.
pub(super) fn organisation(org: &Org, tenant: &str) -> Answer {
    let created = format!("/Date({})/", org.created.timestamp_millis());
    let organisation = json!({
        "OrganisationID": tenant, "APIKey": random_string(30).to_uppercase(), "Name": org.name,
        "LegalName": org.name, "PaysTax": true, "Version": "UK", "OrganisationType": "COMPANY",
        "BaseCurrency": BASE_CURRENCY, "CountryCode": "GB", "IsDemoCompany": false,
        "OrganisationStatus": "ACTIVE", "FinancialYearEndDay": 31, "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "ACCRUALS", "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive", "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": created, "OrganisationEntityType": "COMPANY",
        "Timezone": "GMTSTANDARDTIME", "ShortCode": org.short_code, "Edition": "BUSINESS",
        "Class": "STANDARD", "Addresses": [], "Phones": [], "ExternalLinks": [], "PaymentTerms": {},
    });
    envelope("Organisations", vec![organisation])
}

/// `GET Accounts[?where=]`: the two revenue accounts, with the fields of Xero's Account
/// (`Description`, which every account but bank accounts returns, [I] its text; [I]
/// `BankAccountType` empty and the reporting code).
pub(super) fn accounts(params: &Params) -> Answer {
    let mut list: Vec<Value> = ACCOUNTS
        .iter()
        .map(|(code, name, tax_type, id)| {
            json!({
                "AccountID": id, "Code": code, "Name": name, "Status": "ACTIVE", "Type": "REVENUE",
                "TaxType": tax_type, "Description": format!("Income from {}", name.to_lowercase()),
                "Class": "REVENUE", "EnablePaymentsToAccount": false, "ShowInExpenseClaims": false,
                "BankAccountType": "", "ReportingCode": "REV", "ReportingCodeName": "Revenue",
                "HasAttachments": false, "AddToWatchlist": false,
                "UpdatedDateUTC": "/Date(1704067200000+0000)/",
            })
        })
        .collect();
    list.extend(BANK_ACCOUNTS.iter().map(|(code, name, id)| {
        json!({
            "AccountID": id, "Code": code, "Name": name, "Status": "ACTIVE", "Type": "BANK",
            "TaxType": "NONE", "Class": "ASSET", "EnablePaymentsToAccount": false,
            "ShowInExpenseClaims": false, "BankAccountNumber": "12345678",
            "BankAccountType": "BANK", "CurrencyCode": BASE_CURRENCY, "ReportingCode": "ASS",
            "ReportingCodeName": "Assets", "HasAttachments": false, "AddToWatchlist": false,
            "UpdatedDateUTC": "/Date(1704067200000+0000)/",
        })
    }));
    match filtered(params, "Account", ACCOUNT_WHERE_FIELDS, list) {
        Ok(list) => envelope("Accounts", list),
        Err(refusal) => refusal,
    }
}

/// `GET TaxRates[?where=]`: UK sales rates, in the shape of Xero's TaxRate (rates to 4
/// decimal places).
pub(super) fn tax_rates(params: &Params) -> Answer {
    let list = TAX_RATES
        .iter()
        .map(|(tax_type, name, rate, report_type)| {
            let rate = rounded(Decimal::from_str(rate).expect("a rate"), 4);
            json!({
                "Name": name, "TaxType": tax_type, "ReportTaxType": report_type,
                "CanApplyToAssets": true, "CanApplyToEquity": true,
                "CanApplyToExpenses": *tax_type == "NONE", "CanApplyToLiabilities": true,
                "CanApplyToRevenue": true, "DisplayTaxRate": rate, "EffectiveRate": rate,
                "Status": "ACTIVE",
                "TaxComponents": [{ "Name": "VAT", "Rate": rate, "IsCompound": false, "IsNonRecoverable": false }],
            })
        })
        .collect();
    match filtered(params, "TaxRate", TAX_RATE_WHERE_FIELDS, list) {
        Ok(list) => envelope("TaxRates", list),
        Err(refusal) => refusal,
    }
}

/// `GET Currencies[?where=]`: the organisation's subscribed currencies, the base currency
/// first: `{"Currencies":[{"Code":"GBP","Description":"British Pound"}]}`.
pub(super) fn currencies(data: &OrgData, params: &Params) -> Answer {
    let list = data
        .currencies
        .iter()
        .map(|code| {
            let description = CURRENCY_NAMES
                .iter()
                .find(|(c, _)| c == code)
                .map_or(code.as_str(), |(_, d)| d);
            json!({ "Code": code, "Description": description })
        })
        .collect();
    match filtered(params, "Currency", CURRENCY_WHERE_FIELDS, list) {
        Ok(list) => envelope("Currencies", list),
        Err(refusal) => refusal,
    }
}

pub(super) fn tax_rate(tax_type: &str) -> Option<Decimal> {
    TAX_RATES
        .iter()
        .find(|(t, ..)| *t == tax_type)
        .map(|(_, _, rate, _)| Decimal::from_str(rate).expect("a rate"))
}
