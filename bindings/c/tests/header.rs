//! The committed `include/shmring.h` must be what cbindgen generates from
//! the sources now (CI runs this through `cargo test`). To update it:
//! `SHMRING_BLESS=1 cargo test -p shmring-c --test header`.

use std::path::Path;

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn committed_header_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/shmring.h");
    let fresh = generate();
    if std::env::var_os("SHMRING_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write include/shmring.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == fresh {
        return;
    }
    // A short diff: the first lines that differ, with line numbers.
    let mut report = String::new();
    let (a, b): (Vec<_>, Vec<_>) = (committed.lines().collect(), fresh.lines().collect());
    let mut shown = 0;
    for i in 0..a.len().max(b.len()) {
        let (old, new) = (a.get(i), b.get(i));
        if old != new {
            report.push_str(&format!(
                "line {}:\n  committed: {}\n  generated: {}\n",
                i + 1,
                old.copied().unwrap_or("<end of file>"),
                new.copied().unwrap_or("<end of file>")
            ));
            shown += 1;
            if shown == 10 {
                report.push_str("  ...\n");
                break;
            }
        }
    }
    panic!(
        "bindings/c/include/shmring.h is out of date with the sources.\n{report}\
         Regenerate it with: SHMRING_BLESS=1 cargo test -p shmring-c --test header"
    );
}
