//! Integration tests of the zcopy engine.
