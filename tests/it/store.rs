//! The store's own mechanism: transactions that compose store calls, on both dialects.

use breakfast::store::Store;

use crate::{
    kit::{Backend, TestDb},
    on_both_databases,
};

async fn store_for(backend: Backend) -> Option<(Store, TestDb)> {
    let db = TestDb::create(backend).await?;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, db))
}

async fn feed_urls(store: &Store) -> Vec<String> {
    let mut urls: Vec<String> = store
        .feeds()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.url)
        .collect();
    urls.sort();
    urls
}

/// Store calls made on a transaction are all kept by its commit or all dropped with it;
/// a transaction begun inside one joins it, so only the outermost commit counts.
async fn store_calls_compose_in_one_transaction(backend: Backend) {
    let Some((store, _db)) = store_for(backend).await else {
        return;
    };
    let tx = store.begin().await.unwrap();
    tx.insert_feed("https://a.example/feed.xml", "A", None, 1)
        .await
        .unwrap();
    tx.insert_feed("https://b.example/feed.xml", "B", None, 1)
        .await
        .unwrap();
    drop(tx);
    assert!(
        feed_urls(&store).await.is_empty(),
        "a dropped transaction keeps nothing"
    );

    let tx = store.begin().await.unwrap();
    tx.insert_feed("https://a.example/feed.xml", "A", None, 1)
        .await
        .unwrap();
    let inner = tx.begin().await.unwrap();
    inner
        .insert_feed("https://b.example/feed.xml", "B", None, 1)
        .await
        .unwrap();
    inner.commit().await.unwrap();
    assert!(
        feed_urls(&store).await.is_empty(),
        "nothing is visible before the outermost commit"
    );
    assert_eq!(
        feed_urls(&tx).await.len(),
        2,
        "the transaction sees its own writes"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        feed_urls(&store).await,
        ["https://a.example/feed.xml", "https://b.example/feed.xml"]
    );
}
on_both_databases!(store_calls_compose_in_one_transaction);
