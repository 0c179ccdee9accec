//! The query layer: the Glue tables match the curated tables, and the Athena workgroup is
//! enforced with encrypted results.

use super::{assert_clean};
use moovitamix::curated::TableName;
use moovitamix_tests::cloudformation::*;
use serde_json::Value;

pub fn check_query_layer(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    // The Glue columns follow the tables' declarations in the code, names, order and types.
    let columns = |table: TableName| table.columns().iter().map(|c| (c.name.to_owned(), c.kind.glue().to_owned())).collect::<Vec<_>>();
    let expected = [
        ("tracks", "curated/tracks", columns(TableName::Tracks)),
        ("users", "curated/users", columns(TableName::Users)),
        ("listen_events", "curated/listen_events", columns(TableName::ListenEvents)),
        ("recommendations", "recommendations", columns(TableName::Recommendations)),
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
