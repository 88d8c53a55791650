//! Names on the command line (techniques, policies, I/O models, columns) in any case, with `-`
//! or `_`: `copy-file-range`, `Copy_File_Range` and `copy_file_range` are one name. clap lists
//! the names in `--help` and in the error for a wrong one (this parser gives it the list).

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// An enum whose values have names: the engine's, or the CLI's own.
pub trait Named: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    fn all() -> &'static [Self];
    /// The value's name, as `--help` shows it.
    fn name(self) -> &'static str;
}

impl Named for zcopy::Strategy {
    fn all() -> &'static [Self] {
        zcopy::Strategy::ALL
    }
    fn name(self) -> &'static str {
        zcopy::Strategy::name(self)
    }
}

impl Named for zcopy::CachePolicy {
    fn all() -> &'static [Self] {
        zcopy::CachePolicy::ALL
    }
    fn name(self) -> &'static str {
        zcopy::CachePolicy::name(self)
    }
}

impl Named for zcopy::SyncPolicy {
    fn all() -> &'static [Self] {
        zcopy::SyncPolicy::ALL
    }
    fn name(self) -> &'static str {
        zcopy::SyncPolicy::name(self)
    }
}

impl Named for zcopy_serve::IoModel {
    fn all() -> &'static [Self] {
        &zcopy_serve::IoModel::ALL
    }
    fn name(self) -> &'static str {
        zcopy_serve::IoModel::name(self)
    }
}

/// The form names are compared in: lower case, without `-` and `_`.
pub fn key(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The value named `s` (in any case, with `-` or `_`), if there is one.
pub fn find<T: Named>(s: &str) -> Option<T> {
    let k = key(s);
    T::all().iter().copied().find(|v| key(v.name()) == k)
}

/// A clap value parser for `T`'s names.
#[derive(Clone)]
pub struct Names<T>(PhantomData<T>);

/// The value parser for `T`'s names: `#[arg(value_parser = names::<Strategy>())]`.
pub fn names<T: Named>() -> Names<T> {
    Names(PhantomData)
}

impl<T: Named> TypedValueParser for Names<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        if let Some(v) = value.to_str().and_then(find::<T>) {
            return Ok(v);
        }
        // clap's own error for a value not among the names: it lists them (and suggests the
        // nearest one).
        let err = PossibleValuesParser::new(T::all().iter().map(|v| v.name()))
            .parse_ref(cmd, arg, value)
            .err();
        Err(err.unwrap_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue)))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            T::all().iter().map(|v| PossibleValue::new(v.name())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcopy::{CachePolicy, Strategy};

    #[test]
    fn names_match_in_any_case_with_dashes_or_underscores() {
        for s in [
            "copy_file_range",
            "copy-file-range",
            "Copy-File_Range",
            "COPY_FILE_RANGE",
        ] {
            assert_eq!(find::<Strategy>(s), Some(Strategy::CopyFileRange), "{s}");
        }
        assert_eq!(
            find::<CachePolicy>("Drop-After"),
            Some(CachePolicy::DropAfter)
        );
        assert_eq!(find::<CachePolicy>("no-reuse"), Some(CachePolicy::NoReuse));
        assert_eq!(find::<Strategy>("warp"), None);
    }
}
