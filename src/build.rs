//! Build script: records the commit the binary is built from (`labgate --version`,
//! `labgate_build_info`), from the local git checkout or `LABGATE_COMMIT`; and unpacks the
//! API playground's two Swagger UI files (with its license) from the vendored release archive
//! into `OUT_DIR`. Nothing is fetched: the archive is a crate like any other.

use std::io::Read;
use std::process::Command;

/// The files of the Swagger UI release the playground serves, and where they are written.
const SWAGGER_FILES: [(&str, &str); 4] = [
    ("dist/swagger-ui-bundle.js", "swagger-ui-bundle.js.gz"),
    ("dist/swagger-ui.css", "swagger-ui.css.gz"),
    ("LICENSE", "swagger-ui-LICENSE"),
    ("NOTICE", "swagger-ui-NOTICE"),
];

fn unpack_swagger_ui() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bytes = utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED;
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the vendored archive opens");
    let top = zip
        .name_for_index(0)
        .and_then(|n| n.split('/').next())
        .expect("the archive has a top folder")
        .to_string();
    for (inside, name) in SWAGGER_FILES {
        let mut f = zip
            .by_name(&format!("{top}/{inside}"))
            .unwrap_or_else(|_| panic!("{inside} is in the archive"));
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("read from the archive");
        if name.ends_with(".gz") {
            // Served as they are to every client that takes gzip (all browsers).
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&data).expect("compressed");
            data = gz.finish().expect("compressed");
        }
        std::fs::write(out.join(name), data).expect("written to OUT_DIR");
    }
    std::fs::write(
        out.join("swagger-ui-version"),
        top.trim_start_matches("swagger-ui-"),
    )
    .expect("written to OUT_DIR");
}

fn main() {
    unpack_swagger_ui();
    println!("cargo:rerun-if-env-changed=LABGATE_COMMIT");
    let from_env = std::env::var("LABGATE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let commit = from_env.or_else(|| {
        // A rebuild follows a new commit or a branch switch.
        for f in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
            if std::path::Path::new(f).exists() {
                println!("cargo:rerun-if-changed={f}");
            }
        }
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|c| !c.is_empty())
    });
    println!(
        "cargo:rustc-env=LABGATE_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
