//! The storage conformance suite (feature `testkit`).
