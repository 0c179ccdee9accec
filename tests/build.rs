//! Decides whether the AWS-backed tests are compiled to run or as ignored.
//!
//! The harness has no "skipped": a test that returns early for want of the loopback AWS server
//! would say `ok`. So without that server configured (`AWS_ENDPOINT_URL`) those tests are built
//! `#[ignore]`d, and `cargo test` lists them as `ignored, needs the loopback AWS server`. Where
//! the environment requires them (`CI`, `MOOVITAMIX_TEST_AWS`) they are always built to run, and
//! fail when the server is missing.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loopback_aws)");
    let names = ["AWS_ENDPOINT_URL", "CI", "MOOVITAMIX_TEST_AWS"];
    for name in names {
        println!("cargo::rerun-if-env-changed={name}");
    }
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"));
    if names.iter().any(|name| set(name)) {
        println!("cargo::rustc-cfg=loopback_aws");
    }
}
