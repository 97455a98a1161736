//! The contract of the typed `Store`, run on every `Table` adapter: uniqueness, versions,
//! run creation (single and chunked), counters, transitions with one winner, due schedules
//! and slot claims, stale work, entries held for review, temporary files, deliveries and newest-first listings; idempotent interaction
//! ingest with exact daily summaries and its ingest log, and dataset metadata replaced, listed and deleted by
//! version.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{PageRequest, RunCreation, Store, StoreError};
use crate::domain::*;
use crate::testing::fixtures;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

async fn new_workspace(store: &Store, code: &str) -> Workspace {
    store.create_workspace(&fixtures::workspace(code, now())).await.unwrap()
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

pub async fn workspaces_resolve_by_id_or_code_and_codes_are_unique(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    assert_eq!(ws.version, 1);
    assert_eq!(store.resolve_workspace(&ws.id.to_string()).await.unwrap(), ws);
    assert_eq!(store.resolve_workspace(code).await.unwrap(), ws);
    assert!(matches!(store.resolve_workspace("no-such-ws").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.resolve_workspace("Not A Code!").await, Err(StoreError::NotFound { .. })));
    let again = fixtures::workspace(code, now());
    let err = store.create_workspace(&again).await.unwrap_err();
    assert_eq!(err.to_string(), format!("workspace code `{code}` is taken"));
    assert!(matches!(store.get_workspace(again.id).await, Err(StoreError::NotFound { .. })));
}

pub async fn a_stale_update_is_refused_and_a_fresh_one_bumps_the_version(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let mut fresh = ws.clone();
    fresh.settings.legal_hold = true;
    let saved = store.update_workspace(&fresh).await.unwrap();
    assert_eq!(saved.version, 2);
    let mut stale = ws.clone();
    stale.settings.retention.history_days = 7;
    assert!(is_conflict(store.update_workspace(&stale).await));
    let stored = store.get_workspace(ws.id).await.unwrap();
    assert!(stored.settings.legal_hold);
    assert_eq!(stored.settings.retention.history_days, 365);
}

pub async fn report_codes_are_unique_per_workspace_and_follow_renames(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let other = new_workspace(store, &format!("{code}-b")).await;
    let report = store.create_report(&fixtures::report(&ws, "digest", now())).await.unwrap();
    assert!(is_conflict(store.create_report(&fixtures::report(&ws, "digest", now())).await));
    store.create_report(&fixtures::report(&other, "digest", now())).await.unwrap();
    assert_eq!(store.resolve_report(ws.id, "digest").await.unwrap().id, report.id);
    assert_eq!(store.resolve_report(ws.id, &report.id.to_string()).await.unwrap().id, report.id);

    let mut renamed = report.clone();
    renamed.code = Code::parse("weekly-digest").unwrap();
    let renamed = store.update_report(&renamed).await.unwrap();
    assert_eq!(store.resolve_report(ws.id, "weekly-digest").await.unwrap().id, report.id);
    assert!(matches!(store.resolve_report(ws.id, "digest").await, Err(StoreError::NotFound { .. })));
    // The old code is free again; a taken one cannot be renamed onto.
    let second = store.create_report(&fixtures::report(&ws, "digest", now())).await.unwrap();
    let mut clash = second.clone();
    clash.code = Code::parse("weekly-digest").unwrap();
    assert_eq!(store.update_report(&clash).await.unwrap_err().to_string(), "report code `weekly-digest` is taken");

    store.delete_report(ws.id, renamed.id).await.unwrap();
    assert!(matches!(store.get_report(ws.id, renamed.id).await, Err(StoreError::NotFound { .. })));
    store.create_report(&fixtures::report(&ws, "weekly-digest", now())).await.unwrap();
    let listed = store.list_reports(ws.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items.len(), 2);
}

pub async fn tokens_are_found_by_hash_and_revocation_sticks(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let (token, secret) = fixtures::token(&ws, Role::Editor, now());
    store.create_token(&token).await.unwrap();
    let found = store.token_by_hash(&TokenHash::of(&secret)).await.unwrap().unwrap();
    assert_eq!(found.id, token.id);
    assert!(store.token_by_hash(&TokenHash::of("hrld_pat_wrong")).await.unwrap().is_none());
    store.touch_token(&found, now()).await.unwrap();
    let revoked = store.revoke_token(ws.id, token.id, now() + Duration::hours(1)).await.unwrap();
    assert_eq!(revoked.last_used_at, Some(now()));
    assert!(!revoked.is_usable(now() + Duration::hours(2)));
    let again = store.revoke_token(ws.id, token.id, now() + Duration::hours(3)).await.unwrap();
    assert_eq!(again.revoked_at, Some(now() + Duration::hours(1)));
    assert_eq!(store.list_tokens(ws.id, &PageRequest::first(10)).await.unwrap().items.len(), 1);
}

pub async fn only_enabled_schedules_that_are_due_are_found(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let due =
        store.create_schedule(&fixtures::schedule(&report, Some(now() - Duration::minutes(1)), now())).await.unwrap();
    let exactly_now = store.create_schedule(&fixtures::schedule(&report, Some(now()), now())).await.unwrap();
    store.create_schedule(&fixtures::schedule(&report, Some(now() + Duration::minutes(1)), now())).await.unwrap();
    let mut paused = fixtures::schedule(&report, Some(now() - Duration::hours(1)), now());
    paused.enabled = false;
    store.create_schedule(&paused).await.unwrap();

    let found: Vec<ScheduleId> = store
        .due_schedules(now(), &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.workspace_id == ws.id)
        .map(|s| s.id)
        .collect();
    assert_eq!(found, [due.id, exactly_now.id]);
    assert_eq!(store.schedules_of_report(report.id, &PageRequest::first(10)).await.unwrap().items.len(), 4);
}

pub async fn two_ticks_claiming_one_slot_let_exactly_one_win(store: Arc<Store>, code: &str) {
    let ws = new_workspace(&store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let schedule = store.create_schedule(&fixtures::schedule(&report, Some(now()), now())).await.unwrap();
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let mut next = schedule.clone();
            next.next_run_at = Some(now() + Duration::days(1));
            next.last_run_at = Some(now());
            tokio::spawn(async move { store.claim_schedule_slot(&next).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for claim in claims {
        wins += usize::from(claim.await.unwrap());
    }
    assert_eq!(wins, 1);
    let stored = store.get_schedule(ws.id, schedule.id).await.unwrap();
    assert_eq!(stored.next_run_at, Some(now() + Duration::days(1)));
    let due = store.due_schedules(now(), &PageRequest::first(100)).await.unwrap();
    assert!(due.items.iter().all(|s| s.id != schedule.id));
}

pub async fn a_run_is_created_with_its_entries_and_counts(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 3, now());
    let RunCreation::Created(created) = store.create_run(&run, &entries, now()).await.unwrap() else {
        panic!("expected a new run")
    };
    assert_eq!(created.counts, EntryCounts { total: 3, queued: 3, ..Default::default() });
    assert_eq!(created.status, RunStatus::Running);
    assert!(!created.is_finished());
    let listed = store.list_entries(run.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(store.get_entry(run.id, entries[1].id).await.unwrap().row, entries[1].row);
    // The same run id again (a second tick on the same slot) changes nothing.
    assert_eq!(store.create_run(&run, &entries, now()).await.unwrap(), RunCreation::Existing(run.id));
}

pub async fn a_large_run_is_created_in_chunks_and_listed_page_by_page(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 250, now());
    let RunCreation::Created(created) = store.create_run(&run, &entries, now()).await.unwrap() else {
        panic!("expected a new run")
    };
    assert_eq!((created.counts.total, created.counts.queued), (250, 250));
    assert_eq!(created.status, RunStatus::Running);
    let mut seqs = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let listing = store.list_entries(run.id, &page).await.unwrap();
        seqs.extend(listing.items.iter().map(|e| e.seq));
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seqs, (0..250).collect::<Vec<u32>>());
    assert_eq!(store.create_run(&run, &entries, now()).await.unwrap(), RunCreation::Existing(run.id));
}

pub async fn an_idempotency_key_returns_the_first_run(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let mut first = fixtures::run(&report, now());
    first.idempotency_key = Some("key-1".into());
    store.create_run(&first, &fixtures::entries(&first, 1, now()), now()).await.unwrap();
    let mut second = fixtures::run(&report, now());
    second.idempotency_key = Some("key-1".into());
    let outcome = store.create_run(&second, &fixtures::entries(&second, 1, now()), now()).await.unwrap();
    assert_eq!(outcome, RunCreation::Existing(first.id));
    assert!(matches!(store.get_run(second.id).await, Err(StoreError::NotFound { .. })));
}

pub async fn entry_transitions_move_the_counts_and_finish_the_run(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 2, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    let later = now() + Duration::seconds(30);
    for (entry, end) in entries.iter().zip([EntryStatus::Completed, EntryStatus::PendingReview]) {
        let e = store
            .transition_entry(run.id, entry.id, EntryStatus::Queued, EntryStatus::InProgress, now(), |e| {
                e.attempts += 1
            })
            .await
            .unwrap();
        assert_eq!(e.attempts, 1);
        store.transition_entry(run.id, entry.id, EntryStatus::InProgress, end, later, |_| {}).await.unwrap();
    }
    // One entry done and one held: the run waits for review, and is not finished.
    let held = store.get_run(run.id).await.unwrap();
    assert_eq!(held.counts, EntryCounts { total: 2, completed: 1, review: 1, ..Default::default() });
    assert_eq!((held.status, held.finished_at, held.is_finished()), (RunStatus::AwaitingReview, None, false));

    // Approving the held entry runs it again until its delivery is done.
    store
        .transition_entry(run.id, entries[1].id, EntryStatus::PendingReview, EntryStatus::InProgress, later, |_| {})
        .await
        .unwrap();
    let reopened = store.get_run(run.id).await.unwrap();
    assert_eq!((reopened.status, reopened.counts.queued, reopened.counts.review), (RunStatus::Running, 1, 0));
    store
        .transition_entry(run.id, entries[1].id, EntryStatus::InProgress, EntryStatus::Completed, later, |_| {})
        .await
        .unwrap();
    let finished = store.get_run(run.id).await.unwrap();
    assert_eq!((finished.status, finished.counts.completed), (RunStatus::Finished, 2));
    assert_eq!(finished.finished_at, Some(later));
    assert!(finished.is_finished());
}

pub async fn an_illegal_or_stale_transition_changes_nothing(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 1, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    let id = entries[0].id;
    let illegal = store.transition_entry(run.id, id, EntryStatus::Queued, EntryStatus::Completed, now(), |_| {}).await;
    assert!(matches!(illegal, Err(StoreError::InvalidTransition { .. })));
    let stale =
        store.transition_entry(run.id, id, EntryStatus::InProgress, EntryStatus::Completed, now(), |_| {}).await;
    assert!(is_conflict(stale));
    let entry = store.get_entry(run.id, id).await.unwrap();
    assert_eq!((entry.status, entry.version), (EntryStatus::Queued, 1));
    assert_eq!(store.get_run(run.id).await.unwrap().counts.queued, 1);
    let missing = store
        .transition_entry(run.id, EntryId::generate(now()), EntryStatus::Queued, EntryStatus::InProgress, now(), |_| {})
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

/// The foundation's promise: two workers racing to take the same entry, one wins.
pub async fn two_concurrent_transitions_of_one_entry_let_exactly_one_win(store: Arc<Store>, code: &str) {
    let ws = new_workspace(&store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 1, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    for round in 0..3 {
        let (from, to) = match round {
            0 => (EntryStatus::Queued, EntryStatus::InProgress),
            1 => (EntryStatus::InProgress, EntryStatus::Completed),
            _ => (EntryStatus::Completed, EntryStatus::InProgress),
        };
        let racers: Vec<_> = (0..2)
            .map(|worker| {
                let store = store.clone();
                let (run_id, id) = (run.id, entries[0].id);
                tokio::spawn(async move {
                    store
                        .transition_entry(run_id, id, from, to, now(), |e| e.error = Some(format!("worker {worker}")))
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.unwrap());
        }
        let winners: Vec<&Entry> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().any(|o| matches!(o, Err(StoreError::Conflict(_)))));
        let stored = store.get_entry(run.id, entries[0].id).await.unwrap();
        assert_eq!(stored.status, to);
        assert_eq!(stored.error, winners[0].error);
    }
    let counts = store.get_run(run.id).await.unwrap().counts;
    assert_eq!(counts, EntryCounts { total: 1, queued: 1, ..Default::default() }, "counted once per real move");
}

pub async fn entries_whose_lease_ran_out_are_found_as_stale_work(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 3, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    let lease_end = now() + Duration::minutes(5);
    store
        .transition_entry(run.id, entries[0].id, EntryStatus::Queued, EntryStatus::InProgress, now(), |e| {
            e.lease_until = Some(lease_end)
        })
        .await
        .unwrap();
    store
        .transition_entry(run.id, entries[1].id, EntryStatus::Queued, EntryStatus::Cancelled, now(), |_| {})
        .await
        .unwrap();
    let mine = |found: Vec<Entry>| -> Vec<EntryId> {
        let mut ids: Vec<EntryId> = found.into_iter().filter(|e| e.run_id == run.id).map(|e| e.id).collect();
        ids.sort();
        ids
    };
    assert!(mine(store.stale_entries(now(), 100).await.unwrap()).is_empty());
    assert_eq!(mine(store.stale_entries(lease_end, 100).await.unwrap()), [entries[0].id]);
    // Queued entries are stale once their pickup deadline (15 minutes) has passed; cancelled never.
    assert_eq!(
        mine(store.stale_entries(now() + Duration::minutes(15), 100).await.unwrap()),
        [entries[0].id, entries[2].id]
    );
}

pub async fn held_entries_are_found_by_the_time_they_were_held_until_they_leave_review(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 3, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    let hold = |e: &Entry, at: DateTime<Utc>| {
        let (run, id) = (e.run_id, e.id);
        async move {
            store.transition_entry(run, id, EntryStatus::Queued, EntryStatus::InProgress, at, |_| {}).await.unwrap();
            store
                .transition_entry(run, id, EntryStatus::InProgress, EntryStatus::PendingReview, at, |_| {})
                .await
                .unwrap()
        }
    };
    let early = now() + Duration::minutes(1);
    let late = now() + Duration::hours(2);
    hold(&entries[0], early).await;
    hold(&entries[1], late).await;
    let mine = |found: Vec<Entry>| -> Vec<EntryId> {
        let mut ids: Vec<EntryId> = found.into_iter().filter(|e| e.run_id == run.id).map(|e| e.id).collect();
        ids.sort();
        ids
    };
    assert!(mine(store.held_entries(now(), 100).await.unwrap()).is_empty());
    assert_eq!(mine(store.held_entries(early, 100).await.unwrap()), [entries[0].id]);
    assert_eq!(mine(store.held_entries(late, 100).await.unwrap()), [entries[0].id, entries[1].id]);
    // An entry that leaves review leaves the index; queued ones were never in it.
    store
        .transition_entry(run.id, entries[0].id, EntryStatus::PendingReview, EntryStatus::Cancelled, late, |_| {})
        .await
        .unwrap();
    assert_eq!(mine(store.held_entries(late, 100).await.unwrap()), [entries[1].id]);
    let counts = store.get_run(run.id).await.unwrap().counts;
    assert_eq!((counts.review, counts.cancelled, counts.queued), (1, 1, 1));
}

pub async fn a_temporary_file_is_settled_once_and_gone_after_it_expires(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let file = TemporaryFile {
        id: TemporaryFileId::generate(now()),
        workspace_id: ws.id,
        run_id: run.id,
        status: TemporaryFileStatus::Pending,
        key: None,
        file_name: "review.pdf".into(),
        content_type: "application/pdf".into(),
        size: None,
        sha256: None,
        error: None,
        created_at: now(),
        expires_at: now() + Duration::hours(24),
        version: 0,
    };
    store.create_temporary_file(&file).await.unwrap();
    assert!(is_conflict(store.create_temporary_file(&file).await));
    let ready = store
        .settle_temporary_file(ws.id, file.id, TemporaryFileStatus::Ready, |f| f.key = Some("tmp/x.pdf".into()))
        .await
        .unwrap();
    assert_eq!((ready.status, ready.key.as_deref()), (TemporaryFileStatus::Ready, Some("tmp/x.pdf")));
    assert!(is_conflict(store.settle_temporary_file(ws.id, file.id, TemporaryFileStatus::Failed, |_| {}).await));
    assert_eq!(store.get_temporary_file(ws.id, file.id, now()).await.unwrap(), ready);
    let other = new_workspace(store, &format!("{code}-b")).await;
    assert!(matches!(store.get_temporary_file(other.id, file.id, now()).await, Err(StoreError::NotFound { .. })));
    let later = now() + Duration::hours(24);
    assert!(matches!(store.get_temporary_file(ws.id, file.id, later).await, Err(StoreError::NotFound { .. })));
}

pub async fn deliveries_are_created_once_and_move_by_status(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 2, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    let deliveries: Vec<Delivery> =
        entries.iter().flat_map(|e| (0..2).map(|i| fixtures::delivery(e, i, now()))).collect();
    store.create_deliveries(&deliveries).await.unwrap();
    let sent = store
        .transition_delivery(&deliveries[0], DeliveryStatus::Pending, DeliveryStatus::Sent, now(), |d| {
            d.provider_message_id = Some("msg-1".into());
            d.attempts = 1;
        })
        .await
        .unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("msg-1"));
    // Creating again leaves the sent one alone.
    store.create_deliveries(&deliveries).await.unwrap();
    assert_eq!(store.get_delivery(run.id, entries[0].id, 0).await.unwrap().status, DeliveryStatus::Sent);
    let again =
        store.transition_delivery(&deliveries[0], DeliveryStatus::Pending, DeliveryStatus::Sent, now(), |_| {}).await;
    assert!(is_conflict(again));
    let of_entry = store.list_deliveries(run.id, Some(entries[1].id), &PageRequest::first(10)).await.unwrap();
    assert_eq!(of_entry.items.iter().map(|d| d.index).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(store.list_deliveries(run.id, None, &PageRequest::first(10)).await.unwrap().items.len(), 4);
}

pub async fn a_delivery_is_claimed_by_one_sender_at_a_time(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let run = fixtures::run(&report, now());
    let entries = fixtures::entries(&run, 1, now());
    store.create_run(&run, &entries, now()).await.unwrap();
    let delivery = fixtures::delivery(&entries[0], 0, now());
    store.create_deliveries(std::slice::from_ref(&delivery)).await.unwrap();
    let until = now() + Duration::minutes(5);
    let (a, b) =
        tokio::join!(store.claim_delivery(&delivery, now(), until), store.claim_delivery(&delivery, now(), until));
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "exactly one claim wins: {a:?} {b:?}");
    let claimed = a.or(b).unwrap();
    assert_eq!((claimed.attempts, claimed.sending_until), (1, Some(until)));
    assert_eq!(claimed.idempotency_key, Some(delivery.send_key()));
    // Claimed: nobody else until the claim lapses; after it, a retry may claim again.
    assert!(is_conflict(store.claim_delivery(&delivery, now() + Duration::minutes(1), until).await));
    // A claim is released only once it has lapsed by the cutoff; then it is claimable at once.
    assert!(is_conflict(store.release_delivery(&delivery, now() + Duration::minutes(1)).await));
    let released = store.release_delivery(&delivery, until).await.unwrap();
    assert_eq!((released.sending_until, released.idempotency_key), (None, Some(delivery.send_key())));
    assert!(is_conflict(store.release_delivery(&delivery, until).await), "nothing left to release");
    assert_eq!(store.claim_delivery(&delivery, now() + Duration::minutes(1), until).await.unwrap().attempts, 2);
    let later = now() + Duration::minutes(6);
    assert_eq!(store.claim_delivery(&delivery, later, later + Duration::minutes(5)).await.unwrap().attempts, 3);
    // Settled deliveries are never claimed.
    let current = store.get_delivery(run.id, entries[0].id, 0).await.unwrap();
    store.transition_delivery(&current, DeliveryStatus::Pending, DeliveryStatus::Sent, later, |_| {}).await.unwrap();
    let much_later = now() + Duration::hours(1);
    assert!(is_conflict(store.claim_delivery(&delivery, much_later, much_later).await));
    assert!(is_conflict(store.release_delivery(&delivery, much_later).await));
}

pub async fn runs_are_listed_newest_first_and_stay_in_their_workspace(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let other = new_workspace(store, &format!("{code}-b")).await;
    let report = store.create_report(&fixtures::report(&ws, "r", now())).await.unwrap();
    let second_report = store.create_report(&fixtures::report(&ws, "s", now())).await.unwrap();
    let mut ids = Vec::new();
    for minute in 0..5 {
        let at = now() + Duration::minutes(minute);
        let run = fixtures::run(if minute == 2 { &second_report } else { &report }, at);
        store.create_run(&run, &fixtures::entries(&run, 1, at), at).await.unwrap();
        ids.push(run.id);
    }
    let mut listed = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let listing = store.list_runs(ws.id, None, &page).await.unwrap();
        listed.extend(listing.items.iter().map(|r| r.id));
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(listed, ids.iter().rev().copied().collect::<Vec<_>>());
    let of_report = store.list_runs(ws.id, Some(report.id), &PageRequest::first(10)).await.unwrap();
    assert_eq!(of_report.items.len(), 4);
    assert!(matches!(store.get_run_in(other.id, ids[0]).await, Err(StoreError::NotFound { .. })));
    assert!(store.list_runs(other.id, None, &PageRequest::first(10)).await.unwrap().items.is_empty());
}

fn interaction(ws: &Workspace, v: serde_json::Value, received: DateTime<Utc>) -> Interaction {
    parse_interaction(&v, "interaction", ws.id, received).unwrap()
}

/// `n` interactions over two days and two channels, each with a client id.
fn interaction_batch(ws: &Workspace, prefix: &str, n: usize) -> Vec<Interaction> {
    (0..n)
        .map(|i| {
            let (kind, amount) = match i % 4 {
                0 => ("received", None),
                1 => ("viewed", None),
                2 => ("completed", Some(2.5)),
                _ => ("transaction", Some(10.01)),
            };
            let mut v = serde_json::json!({
                "id": format!("{prefix}-{i}"),
                "customer_id": format!("c{}", i % 7),
                "type": kind,
                "offer_id": "offer-a",
                "offer_kind": "discount",
                "channel": if i % 2 == 0 { "email" } else { "web" },
                "occurred_at": format!("2026-11-2{}T10:00:00Z", 1 + i % 2),
            });
            if let Some(amount) = amount {
                v["amount"] = serde_json::json!(amount);
            }
            interaction(ws, v, now())
        })
        .collect()
}

/// Sums of all daily summaries of a workspace in November 2026:
/// (received, viewed, completed, transactions, amount cents, reward cents, summaries).
async fn summary_totals(store: &Store, ws: &Workspace) -> (i64, i64, i64, i64, i64, i64, usize) {
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let summaries = store.daily_summaries(ws.id, day(1), day(30)).await.unwrap();
    let mut t = (0, 0, 0, 0, 0, 0, summaries.len());
    for s in &summaries {
        t.0 += s.received;
        t.1 += s.viewed;
        t.2 += s.completed;
        t.3 += s.transactions;
        t.4 += s.amount_cents;
        t.5 += s.reward_cents;
    }
    t
}

pub async fn ingesting_a_batch_twice_counts_each_interaction_once(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let batch = interaction_batch(&ws, "evt", 100);
    let first = store.ingest_interactions(&batch).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (100, 0));
    // 100 interactions: 25 of each kind; days and channels alternate together, so two summaries.
    assert_eq!(summary_totals(store, &ws).await, (25, 25, 25, 25, 25 * 1001, 25 * 250, 2));

    // The same batch again (fresh server ids, same client ids), plus five new ones.
    let mut again = interaction_batch(&ws, "evt", 100);
    again.extend(interaction_batch(&ws, "new", 5));
    let second = store.ingest_interactions(&again).await.unwrap();
    assert_eq!((second.accepted, second.duplicates), (5, 100));
    assert_eq!(summary_totals(store, &ws).await, (27, 26, 26, 26, 26 * 1001, 26 * 250, 2));
}

pub async fn a_repeated_id_within_one_batch_is_a_duplicate_and_ids_are_per_workspace(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let other = new_workspace(store, &format!("{code}-b")).await;
    let mut batch = interaction_batch(&ws, "evt", 3);
    batch.push(batch[0].clone());
    let outcome = store.ingest_interactions(&batch).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (3, 1));
    let theirs = store.ingest_interactions(&interaction_batch(&other, "evt", 3)).await.unwrap();
    assert_eq!((theirs.accepted, theirs.duplicates), (3, 0));
    assert_eq!(summary_totals(store, &ws).await.0, 1);
    // Interactions without a client id are never duplicates.
    let anonymous = serde_json::json!({"customer_id": "c", "type": "transaction", "amount": 1, "occurred_at": "2026-11-21T00:00:00Z"});
    let twice = [interaction(&ws, anonymous.clone(), now()), interaction(&ws, anonymous, now())];
    assert_eq!(store.ingest_interactions(&twice).await.unwrap().accepted, 2);
}

/// Retries that race each other must not count an interaction twice.
pub async fn concurrent_ingests_of_one_batch_count_it_once(store: Arc<Store>, code: &str) {
    let ws = new_workspace(&store, code).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (store, ws) = (store.clone(), ws.clone());
            tokio::spawn(async move { store.ingest_interactions(&interaction_batch(&ws, "race", 60)).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let outcome = task.await.unwrap();
        assert_eq!(outcome.accepted + outcome.duplicates, 60);
        accepted += outcome.accepted;
    }
    assert_eq!(accepted, 60);
    let totals = summary_totals(&store, &ws).await;
    assert_eq!((totals.0, totals.1, totals.2, totals.3, totals.4), (15, 15, 15, 15, 15 * 1001));
}

pub async fn summaries_are_read_by_day_range_and_interactions_by_receipt_time(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let event = |day: u32, offer: Option<&str>| {
        let mut v = serde_json::json!({"customer_id": "c", "type": "transaction", "amount": 1.5,
                                        "occurred_at": format!("2026-11-{day:02}T23:59:59Z")});
        if let Some(offer) = offer {
            v["offer_id"] = serde_json::json!(offer);
        }
        v
    };
    let first = [interaction(&ws, event(20, Some("o#1")), now()), interaction(&ws, event(21, None), now())];
    store.ingest_interactions(&first).await.unwrap();
    let later = now() + Duration::minutes(5);
    store.ingest_interactions(&[interaction(&ws, event(22, None), later)]).await.unwrap();

    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let summaries = store.daily_summaries(ws.id, day(21), day(22)).await.unwrap();
    assert_eq!(summaries.iter().map(|s| s.day).collect::<Vec<_>>(), [day(21), day(22)]);
    assert_eq!((summaries[0].transactions, summaries[0].amount_cents, summaries[0].channel), (1, 150, None));
    let all = store.daily_summaries(ws.id, day(1), day(30)).await.unwrap();
    assert_eq!(all[0].offer_id.as_deref(), Some("o#1"));

    let since_later = store.interactions_received(ws.id, Some(later), &PageRequest::first(10)).await.unwrap();
    assert_eq!(since_later.items.len(), 1);
    assert_eq!(since_later.items[0].created_at, later);
    let everything = store.interactions_received(ws.id, None, &PageRequest::first(2)).await.unwrap();
    assert_eq!(everything.items.len(), 2);
    assert!(everything.items.iter().all(|i| i.created_at == now()));
    assert!(everything.cursor.is_some());
}

/// Interactions every 37 minutes from 20 to 23 November 2026 (UTC), alternating offers,
/// channels and kinds, so every quarter-hour summary and day summary has something different.
fn spread_interactions(ws: &Workspace) -> Vec<Interaction> {
    let start = "2026-11-20T00:05:00Z".parse::<DateTime<Utc>>().unwrap();
    (0..3 * 24 * 60 / 37)
        .map(|i| {
            let kind = ["received", "viewed", "completed", "transaction"][i % 4];
            let v = serde_json::json!({
                "id": format!("spread-{i}"), "customer_id": "c", "type": kind, "amount": 1 + i % 3,
                "offer_id": if i % 3 == 0 { "o-1" } else { "o-2" },
                "channel": if i % 5 == 0 { "web" } else { "email" },
                "occurred_at": start + Duration::minutes(37 * i as i64),
            });
            interaction(ws, v, now())
        })
        .collect()
}

pub async fn summaries_between_any_two_quarter_hours_add_up_to_the_interactions_between_them(
    store: &Store,
    code: &str,
) {
    let ws = new_workspace(store, code).await;
    let interactions = spread_interactions(&ws);
    store.ingest_interactions(&interactions).await.unwrap();
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    // (per offer and channel: counts and cents) of a list of summaries, and of the interactions.
    type Sums = std::collections::BTreeMap<(Option<String>, &'static str), [i64; 6]>;
    let of_summaries = |summaries: &[crate::domain::DailySummary]| {
        let mut sums = Sums::new();
        for s in summaries {
            let sum = sums.entry((s.offer_id.clone(), s.channel.map_or("none", |c| c.as_str()))).or_default();
            let add = [s.received, s.viewed, s.completed, s.transactions, s.amount_cents, s.reward_cents];
            sum.iter_mut().zip(add).for_each(|(a, b)| *a += b);
        }
        sums.retain(|_, sum| sum.iter().any(|n| *n != 0));
        sums
    };
    let of_interactions = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let mut summaries = Vec::new();
        for i in interactions.iter().filter(|i| from <= i.occurred_at && i.occurred_at < to) {
            let mut s = crate::domain::DailySummary::of(i);
            for (name, delta) in i.increments() {
                s.set_counter(name, delta);
            }
            summaries.push(s);
        }
        of_summaries(&summaries)
    };
    let spans = [
        // Days of zones west and east of UTC, one with a quarter-hour offset (Kathmandu).
        ("2026-11-21T05:00:00Z", "2026-11-22T05:00:00Z"),
        ("2026-11-20T23:00:00Z", "2026-11-21T23:00:00Z"),
        ("2026-11-20T18:15:00Z", "2026-11-21T18:15:00Z"),
        // Whole UTC days, a week against nothing before it, and parts of one day.
        ("2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"),
        ("2026-11-19T00:00:00Z", "2026-11-23T00:00:00Z"),
        ("2026-11-21T02:45:00Z", "2026-11-21T03:30:00Z"),
        ("2026-11-21T01:00:00Z", "2026-11-21T22:00:00Z"),
        ("2026-11-20T10:30:00Z", "2026-11-22T13:45:00Z"),
        ("2026-11-22T00:00:00Z", "2026-11-22T13:00:00Z"),
        ("2026-11-22T05:00:00Z", "2026-11-22T05:00:00Z"),
    ];
    for (from, to) in spans {
        let read = store.summaries_between(ws.id, at(from), at(to)).await.unwrap();
        assert_eq!(of_summaries(&read), of_interactions(at(from), at(to)), "{from} to {to}");
    }
    assert!(!of_interactions(at("2026-11-21T02:45:00Z"), at("2026-11-21T03:30:00Z")).is_empty());

    // Purging keeps quarters and days alike from the first kept day on.
    let first_kept = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    while store.purge_daily_summaries(ws.id, first_kept, 50).await.unwrap().more {}
    let gone = store.summaries_between(ws.id, at("2026-11-19T00:00:00Z"), at("2026-11-21T23:00:00Z")).await.unwrap();
    assert!(of_summaries(&gone).is_empty(), "{gone:?}");
    let (from, to) = (at("2026-11-22T05:00:00Z"), at("2026-11-23T05:00:00Z"));
    let kept = store.summaries_between(ws.id, from, to).await.unwrap();
    assert_eq!(of_summaries(&kept), of_interactions(from, to));
}

pub async fn the_ingest_log_adds_up_concurrent_batches_by_quarter_hour_and_says_what_is_newest(
    store: Arc<Store>,
    code: &str,
) {
    let ws = new_workspace(&store, code).await;
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    assert_eq!(store.last_received_at(ws.id).await.unwrap(), None);
    assert_eq!(store.summaries_through(ws.id).await.unwrap(), None);

    // Twelve batches at once into one quarter-hour: none is lost to a race creating its item.
    let quarter = at("2026-11-21T10:15:00Z");
    let writes = (0..12i64).map(|i| {
        let store = store.clone();
        let tally = if i % 4 == 0 { IngestTally::refused() } else { IngestTally::stored(10, 1, (i % 2) as usize) };
        async move { store.log_ingest(ws.id, quarter + Duration::seconds(i), &tally).await }
    });
    for done in futures::future::join_all(writes).await {
        done.unwrap();
    }
    store.log_ingest(ws.id, at("2026-11-21T23:59:00Z"), &IngestTally::stored(3, 0, 3)).await.unwrap();
    store.log_ingest(ws.id, at("2026-11-22T00:00:00Z"), &IngestTally::stored(5, 0, 0)).await.unwrap();

    let day = store.ingest_log_between(ws.id, at("2026-11-21T00:00:00Z"), at("2026-11-22T00:00:00Z")).await.unwrap();
    let quarters: Vec<DateTime<Utc>> = day.iter().map(|(q, _)| *q).collect();
    assert_eq!(quarters, [quarter, at("2026-11-21T23:45:00Z")]);
    let expected =
        IngestTally { batches: 12, refused_batches: 3, late_batches: 6, received: 90, duplicates: 9, late: 6 };
    assert_eq!(day[0].1, expected);
    assert_eq!(day[1].1, IngestTally::stored(3, 0, 3));
    let edge = store.ingest_log_between(ws.id, at("2026-11-21T10:30:00Z"), at("2026-11-22T00:15:00Z")).await.unwrap();
    assert_eq!(edge.iter().map(|(_, t)| t.received).collect::<Vec<_>>(), [3, 5], "quarters starting in the span");

    let event = |occurred: &str| serde_json::json!({"customer_id": "c", "type": "transaction", "amount": 2, "occurred_at": occurred});
    let (early, late) = (at("2026-11-22T09:00:00Z"), at("2026-11-22T09:05:00Z"));
    store.ingest_interactions(&[interaction(&ws, event("2026-11-22T08:50:00Z"), early)]).await.unwrap();
    let outcome = store.ingest_interactions(&[interaction(&ws, event("2026-11-20T07:31:00Z"), late)]).await.unwrap();
    assert_eq!(outcome.late, 1, "it arrived two days after it occurred");
    assert_eq!(store.last_received_at(ws.id).await.unwrap(), Some(late));
    assert_eq!(store.summaries_through(ws.id).await.unwrap(), Some(at("2026-11-22T08:45:00Z")));

    // Retention takes the log's quarters with the summaries of the same days.
    while store.purge_daily_summaries(ws.id, at("2026-11-22T00:00:00Z").date_naive(), 50).await.unwrap().more {}
    let kept = store.ingest_log_between(ws.id, at("2026-11-20T00:00:00Z"), at("2026-11-23T00:00:00Z")).await.unwrap();
    assert_eq!(kept.iter().map(|(q, _)| *q).collect::<Vec<_>>(), [at("2026-11-22T00:00:00Z")]);
}

fn dataset(ws: &Workspace, code: &str, rows: u64, at: DateTime<Utc>) -> Dataset {
    Dataset {
        workspace_id: ws.id,
        code: Code::parse(code).unwrap(),
        columns: vec![crate::source::ColumnMeta { name: "id".into(), kind: crate::source::ColumnType::Number }],
        row_count: rows,
        format: DatasetFormat::Csv,
        size_bytes: 10,
        sha256: "00".into(),
        blob_key: format!("datasets/{}/{code}/{rows}.json", ws.id),
        created_at: at,
        updated_at: at,
        version: 0,
    }
}

pub async fn datasets_are_created_replaced_by_version_listed_and_deleted(store: &Store, code: &str) {
    let ws = new_workspace(store, code).await;
    let other = new_workspace(store, &format!("{code}-b")).await;
    let customers = Code::parse("customers").unwrap();
    let created = store.put_dataset(&dataset(&ws, "customers", 2, now()), None).await.unwrap();
    assert_eq!(created.version, 1);
    assert!(is_conflict(store.put_dataset(&dataset(&ws, "customers", 3, now()), None).await));

    let mut next = dataset(&ws, "customers", 5, now());
    next.version = 1;
    let replaced = store.put_dataset(&next, Some(1)).await.unwrap();
    assert_eq!((replaced.version, replaced.row_count), (2, 5));
    // A replacement based on the old version loses.
    assert!(is_conflict(store.put_dataset(&dataset(&ws, "customers", 9, now()), Some(1)).await));
    assert_eq!(store.get_dataset(ws.id, &customers).await.unwrap().row_count, 5);

    store.put_dataset(&dataset(&ws, "accounts", 1, now()), None).await.unwrap();
    let listed = store.list_datasets(ws.id, &PageRequest::first(10)).await.unwrap();
    let codes: Vec<&str> = listed.items.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["accounts", "customers"]);
    assert!(store.list_datasets(other.id, &PageRequest::first(10)).await.unwrap().items.is_empty());
    assert!(matches!(store.get_dataset(other.id, &customers).await, Err(StoreError::NotFound { .. })));

    assert!(is_conflict(store.delete_dataset(ws.id, &customers, 1).await));
    store.delete_dataset(ws.id, &customers, 2).await.unwrap();
    assert!(store.find_dataset(ws.id, &customers).await.unwrap().is_none());
    assert_eq!(store.list_datasets(ws.id, &PageRequest::first(10)).await.unwrap().items.len(), 1);
}

/// Instantiates the store contract on one table adapter; `$make` is an async block returning
/// `Option<Arc<dyn Table>>`.
macro_rules! store_contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use std::sync::Arc;

            use super::super::Store;
            use super::super::store_contract as contract;

            async fn store() -> Option<Arc<Store>> {
                let table: Option<Arc<dyn crate::store::Table>> = $make.await;
                table.map(|t| Arc::new(Store::new(t)))
            }

            fn code() -> String {
                crate::testing::unique_name("ws").replace('_', "-")
            }

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let Some(store) = store().await else { return };
                        contract::$name(&store, &code()).await;
                    }
                };
                (shared $name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let Some(store) = store().await else { return };
                        contract::$name(store, &code()).await;
                    }
                };
            }

            case!(workspaces_resolve_by_id_or_code_and_codes_are_unique);
            case!(a_stale_update_is_refused_and_a_fresh_one_bumps_the_version);
            case!(report_codes_are_unique_per_workspace_and_follow_renames);
            case!(tokens_are_found_by_hash_and_revocation_sticks);
            case!(only_enabled_schedules_that_are_due_are_found);
            case!(shared two_ticks_claiming_one_slot_let_exactly_one_win);
            case!(a_run_is_created_with_its_entries_and_counts);
            case!(a_large_run_is_created_in_chunks_and_listed_page_by_page);
            case!(an_idempotency_key_returns_the_first_run);
            case!(entry_transitions_move_the_counts_and_finish_the_run);
            case!(an_illegal_or_stale_transition_changes_nothing);
            case!(shared two_concurrent_transitions_of_one_entry_let_exactly_one_win);
            case!(entries_whose_lease_ran_out_are_found_as_stale_work);
            case!(held_entries_are_found_by_the_time_they_were_held_until_they_leave_review);
            case!(a_temporary_file_is_settled_once_and_gone_after_it_expires);
            case!(deliveries_are_created_once_and_move_by_status);
            case!(a_delivery_is_claimed_by_one_sender_at_a_time);
            case!(runs_are_listed_newest_first_and_stay_in_their_workspace);
            case!(ingesting_a_batch_twice_counts_each_interaction_once);
            case!(a_repeated_id_within_one_batch_is_a_duplicate_and_ids_are_per_workspace);
            case!(shared concurrent_ingests_of_one_batch_count_it_once);
            case!(summaries_are_read_by_day_range_and_interactions_by_receipt_time);
            case!(summaries_between_any_two_quarter_hours_add_up_to_the_interactions_between_them);
            case!(shared the_ingest_log_adds_up_concurrent_batches_by_quarter_hour_and_says_what_is_newest);
            case!(datasets_are_created_replaced_by_version_listed_and_deleted);
        }
    };
}
pub(crate) use store_contract;
