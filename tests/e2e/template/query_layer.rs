//! The query layer: the Glue tables match the curated tables, and the Athena workgroup is
//! enforced with encrypted results.

use super::{assert_clean};
use moovitamix_tests::cloudformation::*;
use serde_json::Value;

pub fn check_query_layer(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let columns = |list: &[(&str, &str)]| list.iter().map(|(n, ty)| (n.to_string(), ty.to_string())).collect::<Vec<_>>();
    let scd2 = [
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
        ("valid_from", "timestamp"),
        ("valid_to", "timestamp"),
        ("is_current", "boolean"),
        ("row_hash", "string"),
        ("ingested_at", "timestamp"),
        ("carried_forward", "boolean"),
    ];
    let tracks: Vec<(&str, &str)> = [
        ("id", "bigint"),
        ("name", "string"),
        ("artist", "string"),
        ("songwriters", "string"),
        ("duration", "string"),
        ("duration_seconds", "int"),
        ("genres", "string"),
        ("genres_normalized", "string"),
        ("album", "string"),
    ]
    .into_iter()
    .chain(scd2)
    .collect();
    let users: Vec<(&str, &str)> = [
        ("id", "bigint"),
        ("first_name", "string"),
        ("last_name", "string"),
        ("email_hash", "string"),
        ("email_key_id", "string"),
        ("gender", "string"),
        ("favorite_genres", "string"),
        ("favorite_genres_normalized", "string"),
    ]
    .into_iter()
    .chain(scd2)
    .collect();
    let expected = [
        ("tracks", "curated/tracks", columns(&tracks)),
        ("users", "curated/users", columns(&users)),
        (
            "listen_events",
            "curated/listen_events",
            columns(&[
                ("user_id", "bigint"),
                ("track_id", "bigint"),
                ("position", "int"),
                ("created_at", "timestamp"),
                ("updated_at", "timestamp"),
                ("is_new", "boolean"),
                ("carried_forward", "boolean"),
            ]),
        ),
        (
            "recommendations",
            "recommendations",
            columns(&[
                ("user_id", "bigint"),
                ("rank", "int"),
                ("track_id", "bigint"),
                ("score", "double"),
                ("model_version", "string"),
                ("reason", "string"),
            ]),
        ),
    ];
    let tables = of_type(t, "AWS::Glue::Table");
    for (name, prefix, want) in expected {
        let Some((id, table)) = tables.iter().find(|(_, tb)| tb["Properties"]["TableInput"]["Name"] == name) else {
            problems.push(format!("no Glue table {name}"));
            continue;
        };
        let input = &table["Properties"]["TableInput"];
        let got: Vec<(String, String)> = as_list(&input["StorageDescriptor"]["Columns"])
            .iter()
            .map(|c| (c["Name"].as_str().unwrap_or_default().to_owned(), c["Type"].as_str().unwrap_or_default().to_owned()))
            .collect();
        if got != want {
            problems.push(format!("{id}: columns {got:?}, expected {want:?}"));
        }
        let params = &input["Parameters"];
        let template = text_of(&params["storage.location.template"]).unwrap_or_default();
        if params["projection.enabled"] != "true"
            || params["projection.dt.type"] != "date"
            || params["projection.dt.format"] != "yyyy-MM-dd"
            || !text_of(&params["projection.dt.range"]).is_some_and(|r| r.ends_with(",NOW"))
            || !template.ends_with(&format!("/{prefix}/_symlink_format_manifest/dt=${{!dt}}/"))
        {
            problems.push(format!("{id}: partition projection on dt is not date yyyy-MM-dd up to NOW over {prefix}/_symlink_format_manifest/dt=${{dt}}/"));
        }
        // Queries read only the committed run's files, which the symlink manifest lists.
        if input["StorageDescriptor"]["InputFormat"] != "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat" {
            problems.push(format!("{id}: not read through symlink manifests (SymlinkTextInputFormat): a query would see runs in flight"));
        }
        let location = text_of(&input["StorageDescriptor"]["Location"]).unwrap_or_default();
        if !location.ends_with(&format!("/{prefix}/_symlink_format_manifest/")) {
            problems.push(format!("{id}: location {location} is not {prefix}/_symlink_format_manifest/"));
        }
        if strings(&as_list(&input["PartitionKeys"]).iter().map(|k| k["Name"].clone()).collect::<Value>()) != ["dt"] {
            problems.push(format!("{id}: the partition key is not dt"));
        }
        if input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" {
            problems.push(format!("{id}: not the Parquet SerDe"));
        }
    }
    let enforced = of_type(t, "AWS::Athena::WorkGroup").into_iter().any(|(_, w)| {
        let c = &w["Properties"]["WorkGroupConfiguration"];
        c["EnforceWorkGroupConfiguration"] == true && !c["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"].is_null()
    });
    if !enforced {
        problems.push("no Athena workgroup with enforced configuration and encrypted results".into());
    }
    problems
}

#[test]
fn the_query_layer_matches_the_curated_tables() {
    assert_clean(check_query_layer(&parse(&template_text())));
}
