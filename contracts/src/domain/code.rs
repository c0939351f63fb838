//! The closed sets of contract spellings (statuses, line types, document types) as enums.
//!
//! Every such set needs the same handful of things: the serde spelling, the list of all
//! values (error messages name the allowed ones), the spelling as a `&'static str`, the
//! case-sensitive lookup and `Display`. [`code_enum!`] writes them once for all of them.

/// Declares a `Copy` enum whose values are spelled exactly as given on the wire.
///
/// ```text
/// code_enum! {
///     /// Where a credit note is in its life.
///     pub enum CreditNoteStatus {
///         Issued = "ISSUED",
///         Void = "VOID",
///     }
/// }
/// ```
///
/// gives the enum (deriving `Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize,
/// Deserialize`, each value (de)serialized as its spelling) with `ALL` (every value, in
/// declaration order), `as_str`, `from_code` (exact, case-sensitive) and `Display`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
        )]
        $vis enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $code)] $variant, )+
        }

        impl $name {
            /// Every value, in contract order (used to list the allowed values in errors).
            pub const ALL: [Self; [$($code),+].len()] = [$(Self::$variant),+];

            /// The contract spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// The value with exactly this contract spelling (case-sensitive), if any.
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|value| value.as_str() == code)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            /// The value spelled `code`, for readers of stored columns.
            fn try_from(code: String) -> Result<Self, String> {
                Self::from_code(&code).ok_or_else(|| {
                    format!("{code:?} is not one of {}", Self::ALL.map(Self::as_str).join(", "))
                })
            }
        }
    };
}

pub(crate) use code_enum;
