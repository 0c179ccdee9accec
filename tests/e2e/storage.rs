//! The storage conformance suite (`moovitamix::storage::conformance`) against every backend side
//! by side: memory, a local folder, and S3 on the loopback AWS server.

use moovitamix::storage::{LocalStore, MemoryStore, S3Store, conformance};

#[tokio::test]
async fn memory_backend_conforms() {
    conformance::run(&MemoryStore::default()).await;
}

#[tokio::test]
async fn local_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&LocalStore::new(dir.path().to_path_buf())).await;
}

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn s3_backend_conforms() {
    let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return };
    let bucket = aws.fresh_bucket("conformance").await;
    conformance::run(&S3Store::new(aws.s3(), bucket, "pipeline".into())).await;
}
