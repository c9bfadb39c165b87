//! Job locks on Postgres: session advisory locks, visible across hosts sharing the store.

use fks::core::runs::{Holder, LockResult, release, try_lock};
use fks::core::store::{Store, StoreUrl};

#[test]
fn advisory_lock_is_exclusive_across_connections() {
    let Some(url) = crate::support::pg_database() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let u = StoreUrl::parse(&url).unwrap();
        let a = Store::open(&u, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let b = Store::open(&u, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let me = Holder {
            host: "host-a".into(),
            pid: 1,
        };
        let other = Holder {
            host: "host-b".into(),
            pid: 2,
        };
        let LockResult::Acquired(l) = try_lock(&a, "sync-market-data", 60_000, 0, &me)
            .await
            .unwrap()
        else {
            panic!("first take")
        };
        match try_lock(&b, "sync-market-data", 60_000, 0, &other)
            .await
            .unwrap()
        {
            LockResult::Held { holder, .. } => assert_eq!(holder, "host-a:1"),
            LockResult::Acquired(_) => panic!("two holders"),
        }
        // Another job's lock is independent.
        assert!(matches!(
            try_lock(&b, "fetch-news", 60_000, 0, &other).await.unwrap(),
            LockResult::Acquired(_)
        ));
        release(&a, l).await.unwrap();
        assert!(matches!(
            try_lock(&b, "sync-market-data", 60_000, 0, &other)
                .await
                .unwrap(),
            LockResult::Acquired(_)
        ));
        // A holder whose connection ends (a dead host) frees the lock.
        drop(b);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(matches!(
            try_lock(&a, "sync-market-data", 60_000, 0, &me)
                .await
                .unwrap(),
            LockResult::Acquired(_)
        ));
    });
}
