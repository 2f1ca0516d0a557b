//! The storage conformance suite (feature `testkit`).
//!
//! Every [`Storage`](crate::storage::Storage) backend must pass every case
//! in [`cases`]: each is a `pub async fn(&dyn Storage)` that panics (like
//! any test) when the backend breaks the contract. A backend runs them all,
//! one `#[tokio::test]` each, with
//! [`storage_conformance_tests!`](crate::storage_conformance_tests):
//!
//! ```ignore
//! nexwatt_engine::storage_conformance_tests!(|| async { MemoryStorage::new() });
//! ```
//!
//! A durable backend adds a `reopen` closure that opens the same database
//! each time it is called, to also get the reopen-after-flush case:
//!
//! ```ignore
//! nexwatt_engine::storage_conformance_tests!(
//!     fresh: || async { SledStorage::temporary().unwrap() },
//!     reopen: {
//!         let dir = tempfile::tempdir().unwrap();
//!         move || { let path = dir.path().join("db"); async move { SledStorage::open(&path).await.unwrap() } }
//!     }
//! );
//! ```
//!
//! [`fixtures`] builds valid records; other crates' tests reuse it.
//!
//! This module is test code: it fails loudly, with `assert!` and
//! `expect`, on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cases;
pub mod fixtures;

/// Expands to one `#[tokio::test]` per conformance case, each given a fresh
/// storage built by `$make` (a closure returning a future of the storage).
/// With `fresh: $make, reopen: $reopen` it also runs
/// [`cases::reopen_after_flush`] with `$reopen`, a closure that opens the
/// same durable database each time it is called.
///
/// The invoking crate needs `tokio` (with the `macros` and
/// `rt-multi-thread` features) as a dependency or dev-dependency.
#[macro_export]
macro_rules! storage_conformance_tests {
    (fresh: $make:expr, reopen: $reopen:expr $(,)?) => {
        $crate::storage_conformance_tests!($make);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_reopen_after_flush() {
            let reopen = $reopen;
            $crate::testkit::cases::reopen_after_flush(&reopen).await;
        }
    };
    ($make:expr $(,)?) => {
        $crate::storage_conformance_tests!(@cases $make;
            create_twice_is_already_exists,
            stale_revision_is_conflict_and_leaves_record_untouched,
            update_of_missing_or_foreign_record_is_not_found,
            concurrent_compare_and_set_increments_all_land,
            pagination_covers_every_record_once_in_order,
            pagination_of_filtered_lists,
            last_page_has_no_cursor,
            bad_cursors_are_invalid_cursor,
            workspace_isolation,
            agent_filters,
            run_filters,
            escalation_filters,
            event_filters,
            commit_step_writes_everything,
            commit_step_with_stale_run_writes_nothing,
            batch_with_one_failing_precondition_writes_nothing,
            batch_writing_one_record_twice_is_invalid,
            step_records_by_run_in_step_order,
            list_unfinished_runs,
            api_keys_by_hash,
            workspaces_get_and_list,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let make = $make;
                let storage = make().await;
                $crate::testkit::cases::$case(&storage).await;
            }
        )*
    };
}
