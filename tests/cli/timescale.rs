//! TimescaleDB cannot be installed on these machines: the SQL fks sends where it is installed
//! runs here against a stand-in `create_hypertable` with TimescaleDB's signature, on the
//! migrated schema, and the preconditions TimescaleDB checks are checked on the real table.

use crate::support::rt;
use fks::core::store::{HYPERTABLE_SQL, Store, StoreUrl};

#[test]
fn hypertable_sql_fits_the_candles_table() {
    let Some(url) = crate::support::pg_database() else {
        return;
    };
    rt().block_on(async {
        let s = Store::open(&StoreUrl::parse(&url).unwrap(), std::time::Duration::from_secs(5))
            .await
            .unwrap();
        // TimescaleDB 2.x: create_hypertable(relation regclass, time_column_name name,
        // partitioning_column name, number_partitions int, associated_schema_name name,
        // associated_table_prefix name, chunk_time_interval anyelement,
        // create_default_indexes bool, if_not_exists bool, ...)
        s.exec("CREATE TABLE hypertable_calls (relation text, time_column name, chunk bigint, if_not_exists bool)", &[])
            .await
            .unwrap();
        s.exec(
            "CREATE FUNCTION create_hypertable(relation regclass, time_column_name name, \
             partitioning_column name DEFAULT NULL, number_partitions integer DEFAULT NULL, \
             associated_schema_name name DEFAULT NULL, associated_table_prefix name DEFAULT NULL, \
             chunk_time_interval anyelement DEFAULT NULL::bigint, create_default_indexes boolean DEFAULT TRUE, \
             if_not_exists boolean DEFAULT FALSE) RETURNS TABLE(hypertable_id integer, schema_name name, table_name name, created boolean) \
             LANGUAGE sql AS $$ INSERT INTO hypertable_calls VALUES (relation::text, time_column_name, chunk_time_interval::bigint, if_not_exists); \
             SELECT 1, 'public'::name, relation::text::name, true $$",
            &[],
        )
        .await
        .unwrap();
        // Sent as fks sends it: one simple-protocol batch.
        let out = std::process::Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", HYPERTABLE_SQL])
            .output()
            .expect("psql");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let r = s
            .query_one("SELECT relation, time_column::text, chunk, if_not_exists FROM hypertable_calls", &[])
            .await
            .unwrap();
        assert_eq!(r.text(0).unwrap(), "candles");
        assert_eq!(r.text(1).unwrap(), "open_time");
        assert_eq!(r.int(2).unwrap(), 30 * 86_400_000, "30 days of milliseconds");
        assert!(r.bool(3).unwrap(), "if_not_exists: a second run is harmless");
        // An integer time column needs an integer interval: open_time is BIGINT...
        let ty = s
            .query_one(
                "SELECT data_type FROM information_schema.columns WHERE table_name = 'candles' AND column_name = 'open_time'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(ty.text(0).unwrap(), "bigint");
        // ...and every unique index must include the time column.
        let uniques = s
            .query(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'candles'::regclass AND i.indisunique",
                &[],
            )
            .await
            .unwrap();
        assert!(!uniques.is_empty());
        for u in uniques {
            let def = u.text(0).unwrap();
            assert!(def.contains("open_time"), "{def}");
        }
    });
}
