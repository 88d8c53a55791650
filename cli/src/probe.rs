//! `zcopy probe SRC DST`: which techniques can serve the pair, why not for the others, and
//! which one Auto picks first and why (the engine tells: `zcopy::auto_choice`).

use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

use zcopy::Options;

use crate::copy::{about, open_probe_dst, open_src, shown};
use crate::fail::Failure;

/// The arguments of `zcopy probe`, already parsed by clap.
pub struct Args {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub json: bool,
    pub offset: Option<u64>,
    pub len: Option<u64>,
    pub direct_threshold: Option<u64>,
}

pub fn run(a: Args) -> Result<(), Failure> {
    let src_file = open_src(&a.src)?;
    let dst_file = open_probe_dst(&a.dst)?;
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    let s = src_file
        .as_ref()
        .map_or_else(|| stdin.as_fd(), |f| f.as_fd());
    let d = dst_file
        .as_ref()
        .map_or_else(|| stdout.as_fd(), |f| f.as_fd());
    let (src_name, dst_name) = (shown(&a.src, "src"), shown(&a.dst, "dst"));
    let failure = |e: zcopy::Error| {
        let f = Failure::engine(&e);
        match about(e.message(), &a.src, &a.dst) {
            Some(p) => f.at(p),
            None => f,
        }
    };
    let verdicts = zcopy::probe_named(s, &src_name, d, &dst_name).map_err(failure)?;
    let opts = Options {
        src_offset: a.offset,
        len: a.len,
        direct_threshold: a.direct_threshold,
        ..Options::default()
    };
    let auto = zcopy::auto_choice_named(s, &src_name, d, &dst_name, &opts).map_err(failure)?;
    let out = if a.json {
        let v = serde_json::json!({ "techniques": verdicts, "auto": auto });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    } else {
        let mut out = String::new();
        for v in &verdicts {
            let pick = if Some(v.strategy) == auto.first {
                '*'
            } else {
                ' '
            };
            let ok = if v.supported { "yes" } else { "no " };
            out += format!("{pick} {:<16} {ok}  {}", v.strategy.name(), v.reason).trim_end();
            out += "\n";
        }
        let order: Vec<&str> = auto.order.iter().map(|s| s.name()).collect();
        match auto.first {
            Some(first) => {
                out += &format!(
                    "\n* Auto picks {first} first (its order: {}): {}\n",
                    order.join(", "),
                    auto.why
                )
            }
            None => {
                out += &format!(
                    "\nAuto has no technique for this pair (its order: {}): {}\n",
                    order.join(", "),
                    auto.why
                )
            }
        }
        out
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Failure::io(&e, "cannot write the verdicts"))
}
