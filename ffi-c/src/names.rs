//! C numbers for the engine's named enums (strategies, cache and sync policies, advice,
//! residency methods): each a table of value → name, mapped to the engine's type through its
//! name (`FromStr` one way, `name()` the other), so the numbers never depend on the engine's
//! declaration order.

use std::ffi::CStr;
use std::str::FromStr;

use crate::status::Failure;

/// What a C output says for an engine value its table lacks (unreachable while each table's
/// unit test passes).
pub(crate) const UNKNOWN: u32 = u32::MAX;

/// One C enumeration: its C type name and its values with their names, in value order.
pub(crate) struct Names {
    pub c_type: &'static str,
    pub table: &'static [(u32, &'static CStr)],
}

impl Names {
    /// The name of a C value.
    pub(crate) fn name(&self, value: u32) -> Option<&'static CStr> {
        self.table
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, n)| *n)
    }

    /// "auto (0), read_write (1), ...", for error messages.
    pub(crate) fn valid(&self) -> String {
        self.table
            .iter()
            .map(|(v, n)| format!("{} ({v})", n.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The engine's value for a C value; `what` names the argument in the error.
    pub(crate) fn to_engine<T>(&self, value: u32, what: &str) -> Result<T, Failure>
    where
        T: FromStr<Err = engine::Error>,
    {
        let name = self.name(value).ok_or_else(|| {
            Failure::invalid(format!(
                "{what} is {value}, which is no {}; valid: {}",
                self.c_type,
                self.valid()
            ))
        })?;
        name.to_str()
            .map_err(|_| Failure::invalid(format!("a {} name is not UTF-8", self.c_type)))?
            .parse::<T>()
            .map_err(Failure::from)
    }

    /// The C value for an engine name, or [`UNKNOWN`].
    pub(crate) fn value(&self, name: &str) -> u32 {
        self.table
            .iter()
            .find(|(_, n)| n.to_bytes() == name.as_bytes())
            .map_or(UNKNOWN, |(v, _)| *v)
    }

    /// Asserts (in unit tests) that the values run from 0 without gaps and that `engine_names`
    /// are exactly the table's names.
    #[cfg(test)]
    pub(crate) fn check(&self, engine_names: &[&str]) {
        for (i, (v, _)) in self.table.iter().enumerate() {
            assert_eq!(
                *v as usize, i,
                "{}: values must run from 0 without gaps",
                self.c_type
            );
        }
        for name in engine_names {
            assert_ne!(
                self.value(name),
                UNKNOWN,
                "the engine's {name:?} has no {} value: add a constant and a table line in \
                 ffi-c/src, then regenerate the header",
                self.c_type
            );
        }
        assert_eq!(
            self.table.len(),
            engine_names.len(),
            "{}: the table names values the engine lacks",
            self.c_type
        );
    }
}
