//! Integration tests of the zcopy engine, one module per source module (nix's layout), all in
//! one test binary.

mod common;

mod test_buffered;
mod test_cache;
mod test_deadline;
mod test_direct;
mod test_faults;
mod test_hostile;
mod test_io_uring;
mod test_parallel;
mod test_plan;
mod test_prealloc;
mod test_prepared;
mod test_reflink;
mod test_report;
mod test_seccomp;
mod test_source;
mod test_sparse;
mod test_stop;
mod test_strategy;
mod test_sys;
mod test_transfer;
mod test_tree;
mod test_wait_ticks;
mod test_zerocopy;
