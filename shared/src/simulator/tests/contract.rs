//! The source API's contract over HTTP: bytes, paging, validation errors, the schema.

use serde_json::Value;

use super::*;

#[tokio::test]
async fn same_seed_and_date_give_identical_bytes_and_another_seed_differs() {
    let c = client();
    let cfg = SimulatorConfig {
        seed: 7,
        ..config(250, 250)
    };
    let a = RunningSimulator::start(cfg.clone()).await.unwrap();
    let b = RunningSimulator::start(cfg.clone()).await.unwrap();
    let other = RunningSimulator::start(SimulatorConfig { seed: 8, ..cfg })
        .await
        .unwrap();
    for ep in ["tracks", "users", "listen_history"] {
        for p in 1..=3 {
            let (x, y) = (
                page(&c, &a, ep, p, 100).await,
                page(&c, &b, ep, p, 100).await,
            );
            assert_eq!(x.status, 200);
            assert_eq!(x.body, y.body, "{ep} page {p}");
        }
        let z = page(&c, &other, ep, 1, 100).await;
        assert_ne!(
            page(&c, &a, ep, 1, 100).await.body,
            z.body,
            "{ep}: another seed"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn pages_cover_the_data_set_exactly() {
    let c = client();
    let sim = RunningSimulator::start(config(237, 150)).await.unwrap();
    let ds = sim.control().dataset();
    for (ep, sizes) in [
        ("tracks", &[1u64, 7, 100][..]),
        ("users", &[13, 100]),
        ("listen_history", &[100]),
    ] {
        let expected: Vec<Value> = ds.rows(ep).collect();
        assert_eq!(expected.len(), ds.len(ep));
        for &size in sizes {
            assert_eq!(
                fetch_all(&c, &sim, ep, size).await,
                expected,
                "{ep} size {size}"
            );
        }
        // Past the last page: 200, no items, the same counts.
        let past = page(&c, &sim, ep, 1000, 100).await.json();
        assert_eq!(past["items"], serde_json::json!([]));
        assert_eq!(past["total"], expected.len());
        assert_eq!(past["pages"], expected.len().div_ceil(100));
    }
    // Defaults: page 1, size 100.
    let v = get(&c, &format!("{}/tracks", sim.url())).await.json();
    assert_eq!(
        (v["page"].as_u64(), v["size"].as_u64(), v["total"].as_u64()),
        (Some(1), Some(100), Some(237))
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 100);
    assert_eq!(v["pages"], 3);
    // Last page is partial; key order is the source's.
    let last = page(&c, &sim, "tracks", 3, 100).await;
    assert_eq!(last.json()["items"].as_array().unwrap().len(), 37);
    assert!(last.body.starts_with(b"{\"items\":[{\"id\":"));
    assert!(
        last.body
            .ends_with(b"],\"total\":237,\"page\":3,\"size\":100,\"pages\":3}")
    );
    assert_eq!(last.header("content-type"), Some("application/json"));
    sim.shutdown().await;

    // An empty entity: total 0, pages 0.
    let empty = RunningSimulator::start(config(0, 0)).await.unwrap();
    for ep in ["tracks", "users", "listen_history"] {
        let v = page(&c, &empty, ep, 1, 100).await.json();
        assert_eq!(
            v,
            serde_json::json!({"items": [], "total": 0, "page": 1, "size": 100, "pages": 0})
        );
    }
    empty.shutdown().await;
}

#[tokio::test]
async fn invalid_paging_is_a_fastapi_422() {
    let c = client();
    let sim = RunningSimulator::start(config(10, 10)).await.unwrap();
    let cases = [
        ("size=101", "size", "less_than_equal", "101"),
        ("size=0", "size", "greater_than_equal", "0"),
        ("page=0", "page", "greater_than_equal", "0"),
        ("page=-3", "page", "greater_than_equal", "-3"),
        ("page=abc", "page", "int_parsing", "abc"),
        ("page=1.5", "page", "int_parsing", "1.5"),
        ("size=", "size", "int_parsing", ""),
    ];
    for (query, field, kind, input) in cases {
        let got = get(&c, &format!("{}/users?{query}", sim.url())).await;
        assert_eq!(got.status, 422, "{query}");
        assert_eq!(got.header("content-type"), Some("application/json"));
        let detail = &got.json()["detail"];
        assert_eq!(detail.as_array().unwrap().len(), 1, "{query}");
        assert_eq!(detail[0]["type"], kind, "{query}");
        assert_eq!(detail[0]["loc"], serde_json::json!(["query", field]));
        assert_eq!(detail[0]["input"], input);
        assert!(
            detail[0]["msg"]
                .as_str()
                .unwrap()
                .starts_with("Input should be")
        );
    }
    let both = get(&c, &format!("{}/tracks?page=0&size=500", sim.url())).await;
    assert_eq!(both.status, 422);
    let detail = both.json()["detail"].clone();
    assert_eq!(detail[0]["loc"][1], "page");
    assert_eq!(detail[1]["loc"][1], "size");
    assert_eq!(detail[1]["ctx"]["le"], 100);
    // Valid edge values, and the last of repeated parameters.
    assert_eq!(
        get(&c, &format!("{}/tracks?size=100&page=1", sim.url()))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&c, &format!("{}/tracks?size=1", sim.url()))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&c, &format!("{}/tracks?size=500&size=2", sim.url()))
            .await
            .json()["size"],
        2
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn root_redirects_to_docs_and_the_schema_is_served() {
    let c = client();
    let sim = RunningSimulator::start(config(5, 5)).await.unwrap();
    let root = get(&c, &format!("{}/", sim.url())).await;
    assert_eq!(root.status, 307);
    assert_eq!(root.header("location"), Some("/docs"));
    let docs = get(&c, &format!("{}/docs", sim.url())).await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let api = get(&c, &format!("{}/openapi.json", sim.url())).await.json();
    for path in ["/tracks", "/users", "/listen_history"] {
        let params = &api["paths"][path]["get"]["parameters"];
        assert_eq!(params[1]["schema"]["maximum"], 100, "{path}");
    }
    assert_eq!(
        api["components"]["schemas"]["Track"]["required"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
    let missing = get(&c, &format!("{}/albums", sim.url())).await;
    assert_eq!(
        (missing.status, missing.json()),
        (404, serde_json::json!({"detail": "Not Found"}))
    );
    let post = c
        .post(format!("{}/tracks", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    let stats = sim.control().stats();
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.by_endpoint["other"], 4);
    assert_eq!(
        stats.by_endpoint["tracks"], 0,
        "a refused method is not a page request"
    );
    sim.shutdown().await;
}
