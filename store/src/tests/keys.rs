//! The read API's keys on both backends: stored by hash, listed, found, revoked once, and
//! a name never reused.

use super::*;
use crate::ApiKey;

fn key(name: &str, hash: &str) -> ApiKey {
    ApiKey {
        name: name.into(),
        hash: hash.into(),
        scope: "read:AAPL,BTC/*".into(),
        per_minute: 60,
        created_at: t("2025-07-08T15:00:00Z"),
        revoked_at: None,
    }
}

both!(keys_are_stored_by_hash_and_revoked_once);
async fn keys_are_stored_by_hash_and_revoked_once(store: Arc<dyn Store>) {
    store.create_api_key(&key("desk", "aa11")).await.unwrap();
    store.create_api_key(&key("ml", "bb22")).await.unwrap();
    assert_eq!(
        store.api_key_by_hash("aa11").await.unwrap(),
        Some(key("desk", "aa11"))
    );
    assert_eq!(store.api_key_by_hash("cc33").await.unwrap(), None);
    let err = store
        .create_api_key(&key("desk", "dd44"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("a key named \"desk\" exists"),
        "{err}"
    );

    let at = t("2025-07-09T10:00:00Z");
    assert!(store.revoke_api_key("desk", at).await.unwrap());
    assert!(
        !store.revoke_api_key("desk", at).await.unwrap(),
        "revoked once"
    );
    assert!(!store.revoke_api_key("nobody", at).await.unwrap());
    let all = store.api_keys().await.unwrap();
    let got: Vec<(&str, Option<DateTime<Utc>>)> = all
        .iter()
        .map(|k| (k.name.as_str(), k.revoked_at))
        .collect();
    assert_eq!(got, vec![("desk", Some(at)), ("ml", None)]);
    // Revoked, the name stays taken.
    assert!(store.create_api_key(&key("desk", "ee55")).await.is_err());
}
